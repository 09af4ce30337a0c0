/*
 * csv.c - the Table 1 CSV writer (csv.h).  MSEs keep 6 significant digits
 * (%.6g), enough to recompute every figure in the tables; wall times are in
 * seconds to 0.01 s.
 */
#include <math.h>

#include "csv.h"

const char *const table1_columns[TABLE1_NCOLS] = {
    "dataset", "variant", "seed", "test_mse", "val_mse",
    "baseline_zero", "baseline_hold", "newton_failures", "wall_s",
};

int table1_csv_header(FILE *f)
{
    for (int i = 0; i < TABLE1_NCOLS; i++)
        if (fprintf(f, "%s%s", i ? "," : "", table1_columns[i]) < 0)
            return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

/* %.6g prints inf and nan as such, which is what we want */
int table1_csv_row(FILE *f, const table1_row *r)
{
    int n = fprintf(f, "%s,%s,%d,%.6g,%.6g,%.6g,%.6g,%d,%.2f\n", r->dataset, r->variant,
                    r->seed, r->test_mse, r->val_mse, r->baseline_zero, r->baseline_hold,
                    r->newton_failures, r->wall_s);
    return n < 0 ? -1 : 0;
}
