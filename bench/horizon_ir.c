/*
 * horizon_ir.c - IR size and derivation time of a cart-pole MPC model at
 * T = 10, 100, 1000, rolled and unrolled (issue 7; the C emitter does not
 * print rolled loops yet, so this measures up to kern_derive).  Build and
 * run from the repository root after `make`:
 *
 *   cc -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Icompiler -Ibuild/compiler \
 *      bench/horizon_ir.c build/libdilc.a -lgmp -lm -o build/horizon_ir && build/horizon_ir
 */
#include "dilc.h"
#include "kern.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
static const char *fmt =
    "model cartpole\ndim T = %d, NX = 4\nconst dt = 0.05, g = 9.81\ninput s0[NX]\n"
    "param mc = 1, mp = 0.1, l = 0.5, w[NX] = 1\nvar u[T]\n"
    "fn f(s[NX], a) = [s[2], s[3], (a + mp*sin(s[1])*(l*s[3]^2 - g*cos(s[1]))) / (mc + mp*sin(s[1])^2),"
    " (g*sin(s[1]) - cos(s[1])*(a + mp*l*s[3]^2*sin(s[1]))/(mc + mp)) / l]\n"
    "let s[0] = s0\nfor t in 0:T { let s[t+1] = s[t] + dt*f(s[t], u[t]) }\n"
    "score sum(t in 1:T+1, sum(w * s[t]^2)) + 0.1*sum(u^2)\n";
int main(void)
{
    int Ts[] = {10, 100, 1000};
    for (int u = 0; u < 2; u++)
        for (int i = 0; i < 3; i++) {
            static char text[4096];
            snprintf(text, sizeof text, fmt, Ts[i]);
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            arena_release(); ir_init();
            SrcFile src = {"t.dil", text, strlen(text)};
            diag_init(&src, stderr);   /* unrolled T = 1000 is refused: too large to emit */
            Model *m = sema_model_ex(parse_file(&src), u);
            int n0 = ir_node_count();
            Kernels *ks = m ? kern_derive(m) : NULL;
            clock_gettime(CLOCK_MONOTONIC, &b);
            printf("%s T=%4d: model IR %6d nodes, all kernels %7d nodes, parse+sema+derive %.3f s%s\n",
                   u ? "unrolled" : "rolled  ", Ts[i], n0, ir_node_count(),
                   (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec), ks ? "" : " (refused)");
        }
    arena_release();
    return 0;
}
