/*
 * version.c - the release and ABI numbers of the libdil actually linked
 * (dil.h: DIL_VERSION, DIL_ABI_VERSION), so that a program built against
 * one header can tell when it runs with another library.
 */
#include "dil.h"

const char *dil_version(void)
{
    return DIL_VERSION;
}

int dil_abi_version(void)
{
    return DIL_ABI_VERSION;
}
