/*
 * csv.h - the one-row-per-run CSV of Table 1 (docs/results/table1.csv):
 * exactly the columns issue 9 fixes, in that order.
 */
#ifndef REPRO_CSV_H
#define REPRO_CSV_H

#include <stdio.h>

typedef struct table1_row {
    const char *dataset;   /* vdp, spiral, spiral01 */
    const char *variant;   /* 1layer, 2layer */
    int seed;
    double test_mse, val_mse, baseline_zero, baseline_hold;
    int newton_failures;
    double wall_s;
} table1_row;

#define TABLE1_NCOLS 9
extern const char *const table1_columns[TABLE1_NCOLS];

/* The header line, then one line per row; a non-finite MSE is written as
   inf or nan (never dropped).  0, or -1 on a write error. */
int table1_csv_header(FILE *f);
int table1_csv_row(FILE *f, const table1_row *r);

#endif
