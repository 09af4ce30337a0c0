/*
 * check_cover.c - cover.c (which pieces of an assembly overlap, and what
 * no exclusive piece writes) against a brute force that marks every
 * element, on thousands of random assemblies: rows, columns, blocks,
 * transposes, single elements, diagonals and strided pieces in vectors
 * and matrices.  Asserted:
 *
 *   - sound: a piece called exclusive shares no element with another;
 *   - exact: when every placement fills a box, exactly the pieces that
 *     share no element are exclusive (unless the budget ran out, in which
 *     case none is);
 *   - the zero boxes lie inside the assembly, are disjoint, are in
 *     row-major order, and cover exactly the elements that no exclusive
 *     piece writes;
 *   - cost: 2^28-element pieces are as cheap as small ones (the brute
 *     force is skipped there).
 */
#include "cover.h"
#include "dilc.h"

#include <check.h>
#include <stdlib.h>

/* ck_assert records every passing assertion (a write each): in the inner
   loops below, test first and assert only what failed. */
#define REQUIRE(cond, ...)                                                 \
    do {                                                                   \
        if (!(cond))                                                       \
            ck_abort_msg(__VA_ARGS__);                                     \
    } while (0)
#include <string.h>

typedef struct Rng {
    unsigned long long s;
} Rng;

static int rnd(Rng *r, int n)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int)((r->s >> 33) % (unsigned long long)n);
}

/* A fake assembly: cover_of reads only shapes, pieces and placements. */
typedef struct Fake {
    Node as;
    Node pieces[64];
    Node *args[64];
    Map place[64];
    int exact[64];            /* the placement fills a box */
} Fake;

static void add_piece(Fake *f, int rows, int cols, Map m, int exact)
{
    int p = f->as.nargs++;
    f->pieces[p] = (Node){.rank = cols > 1 ? 2 : 1, .rows = rows, .cols = cols};
    f->args[p] = &f->pieces[p];
    f->place[p] = m;
    f->exact[p] = exact;
}

/* One random piece that fits an R x C assembly. */
static void random_piece(Rng *g, Fake *f)
{
    int R = f->as.rows, C = f->as.cols;
    int kind = rnd(g, 6);
    if (kind == 5 && R > 1 && C > 1) {              /* a diagonal run */
        int n = 1 + rnd(g, R < C ? R : C);
        int r0 = rnd(g, R - n + 1), c0 = rnd(g, C - n + 1);
        add_piece(f, n, 1, (Map){r0, 1, 0, c0, 1, 0}, n == 1);
        return;
    }
    if (kind == 4 && C == 1 && R > 2) {             /* strided in a vector */
        int s = 2 + rnd(g, 3), n = 1 + rnd(g, (R - 1) / s + 1);
        if ((long)(n - 1) * s >= R)
            n = 1;
        int r0 = rnd(g, R - (n - 1) * s);
        add_piece(f, n, 1, (Map){r0, s, 0, 0, 0, 0}, n == 1);
        return;
    }
    if (kind == 3 && C == 1) {                      /* a matrix flattened */
        int h = 1 + rnd(g, 4), w = 1 + rnd(g, 4);
        if (h * w > R) {
            h = 1;
            w = 1;
        }
        int r0 = rnd(g, R - h * w + 1);
        int colmajor = rnd(g, 2);
        Map m = colmajor ? (Map){r0, 1, h, 0, 0, 0} : (Map){r0, w, 1, 0, 0, 0};
        add_piece(f, h, w, m, 1);
        return;
    }
    if (kind == 2 && C > 1) {                       /* a transposed block */
        int h = 1 + rnd(g, C), w = 1 + rnd(g, R);   /* piece h x w lands w x h */
        int r0 = rnd(g, R - w + 1), c0 = rnd(g, C - h + 1);
        add_piece(f, h, w, (Map){r0, 0, 1, c0, 1, 0}, 1);
        return;
    }
    /* A block (rows, columns, elements are blocks). */
    int h = 1 + rnd(g, R), w = 1 + rnd(g, C);
    if (rnd(g, 2))
        h = 1 + rnd(g, R < 2 ? R : 2);
    int r0 = rnd(g, R - h + 1), c0 = rnd(g, C - w + 1);
    add_piece(f, h, w, (Map){r0, 1, 0, c0, 0, 1}, 1);
}

static void fake_init(Fake *f, int rows, int cols)
{
    memset(f, 0, sizeof *f);
    f->as.op = OP_ASSEMBLE;
    f->as.rank = cols > 1 ? 2 : 1;
    f->as.rows = rows;
    f->as.cols = cols;
    f->as.args = f->args;
    f->as.place = f->place;
}

/* Brute force: how many pieces write each element, and which pieces
   share an element with another. */
static void brute(const Fake *f, int *count, int *shared)
{
    int R = f->as.rows, C = f->as.cols;
    memset(count, 0, (size_t)R * C * sizeof *count);
    for (int pass = 0; pass < 2; pass++)
        for (int p = 0; p < f->as.nargs; p++) {
            const Map *m = &f->place[p];
            if (pass)
                shared[p] = 0;
            for (int r = 0; r < f->pieces[p].rows; r++)
                for (int c = 0; c < f->pieces[p].cols; c++) {
                    int ar = m->r0 + m->arr * r + m->arc * c;
                    int ac = m->c0 + m->acr * r + m->acc * c;
                    REQUIRE(ar >= 0 && ar < R && ac >= 0 && ac < C, "piece outside");
                    if (!pass)
                        count[ar * C + ac]++;
                    else if (count[ar * C + ac] > 1)
                        shared[p] = 1;
                }
        }
}

START_TEST(random_assemblies)
{
    Rng g = {12345};
    static int count[64 * 64], excl_count[64 * 64], zeroed[64 * 64];
    int shared[64];
    int exact_cases = 0, fallbacks = 0;
    for (int trial = 0; trial < 20000; trial++) {
        Fake f;
        int vec = rnd(&g, 3) == 0;
        int R = 1 + rnd(&g, 40), C = vec ? 1 : 1 + rnd(&g, 40);
        fake_init(&f, R, C);
        int np = 1 + rnd(&g, trial % 7 == 0 ? 60 : 8);
        for (int i = 0; i < np; i++)
            random_piece(&g, &f);
        Cover cv;
        cover_of(&f.as, &cv);
        brute(&f, count, shared);
        int all_exact = 1, any_excl = 0;
        for (int p = 0; p < f.as.nargs; p++) {
            all_exact &= f.exact[p];
            any_excl |= cv.excl[p];
            if (cv.excl[p])
                REQUIRE(!shared[p], "trial %d: piece %d called exclusive but shares", trial,
                              p);
        }
        /* With exact boxes exclusivity is exact, except when the budget
           ran out: then everything is cleared and no piece exclusive. */
        int whole = cv.nzero == 1 && cv.zero[0].r0 == 0 && cv.zero[0].r1 == R &&
                    cv.zero[0].c0 == 0 && cv.zero[0].c1 == C;
        if (all_exact) {
            int missed = 0;
            for (int p = 0; p < f.as.nargs; p++)
                missed |= !shared[p] && !cv.excl[p];
            if (missed) {
                REQUIRE(whole && !any_excl, "trial %d: an exclusive piece missed", trial);
                fallbacks++;
            } else {
                exact_cases++;
            }
        }
        /* Zero boxes: inside, disjoint, ordered, exactly the elements no
           exclusive piece writes. */
        memset(excl_count, 0, (size_t)R * C * sizeof *excl_count);
        memset(zeroed, 0, (size_t)R * C * sizeof *zeroed);
        for (int p = 0; p < f.as.nargs; p++) {
            if (!cv.excl[p])
                continue;
            const Map *m = &f.place[p];
            for (int r = 0; r < f.pieces[p].rows; r++)
                for (int c = 0; c < f.pieces[p].cols; c++)
                    excl_count[(m->r0 + m->arr * r + m->arc * c) * C + m->c0 + m->acr * r +
                               m->acc * c]++;
        }
        long prev = -1;
        for (int z = 0; z < cv.nzero; z++) {
            const CoverBox *b = &cv.zero[z];
            REQUIRE(b->r0 >= 0 && b->r0 < b->r1 && b->r1 <= R, "trial %d: zero box rows", trial);
            REQUIRE(b->c0 >= 0 && b->c0 < b->c1 && b->c1 <= C, "trial %d: zero box columns", trial);
            long first = b->r0 * C + b->c0;
            REQUIRE(first > prev, "trial %d: zero boxes out of order", trial);
            prev = first;
            for (long r = b->r0; r < b->r1; r++)
                for (long c = b->c0; c < b->c1; c++)
                    zeroed[r * C + c]++;
        }
        for (int i = 0; i < R * C; i++)
            REQUIRE(zeroed[i] == (excl_count[i] == 0),
                          "trial %d: element %d zeroed %d times, written by %d exclusive pieces",
                          trial, i, zeroed[i], excl_count[i]);
    }
    ck_assert_int_gt(exact_cases, 4000);
    ck_assert_int_lt(fallbacks, 100);
}
END_TEST

/* Huge pieces cost what small ones do: a 2^14 x 2^14 matrix assembled
   from a column, a row and a block, and a 2^28 vector from two halves. */
START_TEST(huge_pieces)
{
    Fake f;
    fake_init(&f, 16384, 16384);
    add_piece(&f, 16384, 1, (Map){0, 1, 0, 0, 0, 0}, 1);        /* column 0 */
    add_piece(&f, 1, 16383, (Map){0, 0, 0, 1, 0, 1}, 1);        /* row 0, from col 1 */
    add_piece(&f, 100, 100, (Map){5, 1, 0, 5, 0, 1}, 1);        /* a block */
    add_piece(&f, 10, 10, (Map){50, 1, 0, 50, 0, 1}, 1);        /* inside it */
    Cover cv;
    cover_of(&f.as, &cv);
    ck_assert(cv.excl[0] && cv.excl[1] && !cv.excl[2] && !cv.excl[3]);
    ck_assert_int_eq(cv.nzero, 1);   /* rows 1.., columns 1.. */
    ck_assert(cv.zero[0].r0 == 1 && cv.zero[0].r1 == 16384 && cv.zero[0].c0 == 1 &&
              cv.zero[0].c1 == 16384);

    fake_init(&f, 1 << 28, 1);
    add_piece(&f, 1 << 27, 1, (Map){0, 1, 0, 0, 0, 0}, 1);
    add_piece(&f, 1 << 27, 1, (Map){1 << 27, 1, 0, 0, 0, 0}, 1);
    cover_of(&f.as, &cv);
    ck_assert(cv.excl[0] && cv.excl[1]);
    ck_assert_int_eq(cv.nzero, 0);
}
END_TEST

static Suite *cover_suite(void)
{
    Suite *s = suite_create("cover");
    TCase *tc = tcase_create("cover");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, random_assemblies);
    tcase_add_test(tc, huge_pieces);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cover_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    arena_release();
    return failed ? 1 : 0;
}
