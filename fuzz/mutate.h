/*
 * mutate.h - the grammar-aware mutator's one setting (mutate.c).
 */
#ifndef DIL_FUZZ_MUTATE_H
#define DIL_FUZZ_MUTATE_H

#include <stddef.h>
#include <stdint.h>

/* When set, token and line mutations and crossovers are retried until it
   returns nonzero for the mutant (a few times at most): fuzz_diff.c sets
   it to "the front end accepts this model". */
extern int (*mutate_accepts)(const uint8_t *data, size_t size);

#endif
