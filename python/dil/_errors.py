"""The exceptions of the dil package.

Every failure status of libdil (runtime/dil.h, docs/solvers.md) becomes an
exception of its own class, all derived from DilError, which carries the
status, the dil_info figures of the failing call (and of every instance of
a batch) and whatever outputs the runtime still wrote (for example the
best iterate of a solve that hit its iteration limit), so that a caller
can inspect or accept them knowingly.  Nothing fails silently.
"""

STATUS_NAMES = [
    "DIL_OK", "DIL_MAX_ITER", "DIL_NOT_FINITE", "DIL_CG_BREAKDOWN",
    "DIL_CG_MAX_ITER", "DIL_BAD_ARG", "DIL_NOT_STATIONARY", "DIL_SINGULAR",
    "DIL_LINE_SEARCH", "DIL_NO_MEMORY",
]


class DilVersionError(RuntimeError):
    """The package, the dil.h it compiled against and the libdil it loaded
    do not belong together (release, ABI or struct layout)."""


class DilCompileError(RuntimeError):
    """dilc rejected the model, or the C compiler failed.  `stderr` holds
    the tool's diagnostics (GCC style `file:line:col: error: ...`)."""

    def __init__(self, message, stderr="", returncode=None):
        super().__init__(message + ("\n" + stderr.rstrip() if stderr else ""))
        self.stderr = stderr
        self.returncode = returncode


class Info:
    """The figures of one call (dil_info): status, iterations, grad_norm,
    cg_iterations, cg_residual, score, residual_norm, cg_total, n_score,
    n_grad, n_hvp, n_jac."""

    __slots__ = ("status", "iterations", "grad_norm", "cg_iterations",
                 "cg_residual", "score", "residual_norm", "cg_total",
                 "n_score", "n_grad", "n_hvp", "n_jac")

    def __init__(self, struct):
        for name in self.__slots__:
            setattr(self, name, getattr(struct, name))

    @property
    def status_name(self):
        return status_name(self.status)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self):
        return "Info(%s)" % ", ".join(
            "%s=%r" % (k, self.status_name if k == "status" else v)
            for k, v in self.as_dict().items())


def status_name(status):
    if 0 <= status < len(STATUS_NAMES):
        return STATUS_NAMES[status]
    return "status %d" % status


class DilError(RuntimeError):
    """A libdil call returned a failure status.

    status     the dil_status (int); status_name its name
    call       the C function ("dil_solve", "dil_backward_batch", ...)
    info       Info of the failing instance (the lowest-numbered one)
    infos      list of Info of every instance (one entry for a single call)
    instance   index of the failing instance in the batch (0 for one call)
    result     the outputs as the runtime left them (a dict), see dil.h for
               what each status guarantees about them
    """

    def __init__(self, call, status, infos, instance, result):
        self.call = call
        self.status = status
        self.infos = infos
        self.instance = instance
        self.info = infos[instance] if infos else None
        self.result = result
        where = "" if len(infos) <= 1 else " (instance %d of %d)" % (
            instance, len(infos))
        figures = ""
        if self.info is not None:
            i = self.info
            figures = (": iterations=%d grad_norm=%.3g cg_iterations=%d "
                       "cg_residual=%.3g" % (i.iterations, i.grad_norm,
                                             i.cg_iterations, i.cg_residual))
        super().__init__("%s: %s%s%s" % (call, status_name(status), where,
                                          figures))

    @property
    def status_name(self):
        return status_name(self.status)


class MaxIterError(DilError):
    """DIL_MAX_ITER: the forward solve did not reach its tolerance."""


class NotFiniteError(DilError, ArithmeticError):
    """DIL_NOT_FINITE: a NaN or infinity in the inputs or from a kernel."""


class CGBreakdownError(DilError):
    """DIL_CG_BREAKDOWN: H + eps I is not positive definite."""


class CGMaxIterError(DilError):
    """DIL_CG_MAX_ITER: the backward CG did not converge."""


class BadArgError(DilError, ValueError):
    """DIL_BAD_ARG: a bad size, option or missing kernel."""


class NotStationaryError(DilError):
    """DIL_NOT_STATIONARY: backward at a y that is not a solution."""


class SingularError(DilError):
    """DIL_SINGULAR: the dense backward met a singular H + eps I."""


class LineSearchError(DilError):
    """DIL_LINE_SEARCH: no step gave sufficient decrease."""


class DilMemoryError(DilError, MemoryError):
    """DIL_NO_MEMORY: the runtime could not allocate its scratch."""


_BY_STATUS = {
    1: MaxIterError, 2: NotFiniteError, 3: CGBreakdownError,
    4: CGMaxIterError, 5: BadArgError, 6: NotStationaryError,
    7: SingularError, 8: LineSearchError, 9: DilMemoryError,
}


def raise_status(call, status, infos, instance, result):
    raise _BY_STATUS.get(status, DilError)(call, status, infos, instance, result)
