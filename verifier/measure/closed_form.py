"""For n = 2: the error rate in closed form, as a function of the pieces' coefficients (sympy).

On a piece, ``Delta = logit_1 - logit_0 = a0*x0 - a1*x1``. Its decision ray is ``(a1, a0)``
(where Delta = 0) and the order cells meet on the diagonal ``x0 = x1``. An error wedge bounded
by the diagonal and a decision ray spans the angle ``atan2(|a0 - a1|, a0 + a1)``, so

    error rate = sum over error wedges of atan2(|a0_k - a1_k|, a0_k + a1_k) / (2*pi),

which for ``a0 = a1 (1 + eps)`` is about ``eps / (4*pi)`` per wedge: two wedges with
``eps = 2^-11`` give the post's ``1 / (2*pi*2^11)``. Wedges with other boundaries (a ReLU
switching ray, a tie) get the same atan2 of their exact rays.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..coerce import as_certification
from ..geometry.decomposition import delta_forms
from ..errors import VerifierError


@dataclass(frozen=True)
class ClosedForm:
    """``expression`` in symbols ``a0_k, a1_k``; ``values`` maps each symbol to its exact rational."""

    expression: sympy.Expr
    values: dict

    @property
    def exact(self) -> sympy.Expr:
        """The error rate as an exact symbolic number (atan2 of rationals over pi)."""
        return self.expression.subs(self.values)

    def evaluate(self, digits: int = 30) -> sympy.Float:
        return sympy.N(self.exact, digits)


def _parallel(u, v) -> bool:
    """u is a positive multiple of v (exact)."""
    return u[0] * v[1] == u[1] * v[0] and u[0] * v[0] + u[1] * v[1] > 0


def _wedge_angle(p, q):
    """Angle between two plane vectors (entries ints or sympy expressions)."""
    return sympy.atan2(sympy.Abs(p[0] * q[1] - p[1] * q[0]), p[0] * q[0] + p[1] * q[1])


def error_closed_form(cert) -> ClosedForm:
    """The n = 2 error rate as a sum of atan2 terms in the pieces' Delta coefficients."""
    cert = as_certification(cert)
    if cert.model.n != 2:
        raise VerifierError(f"the closed form is for n = 2 models; this one has n = {cert.model.n}")
    forms = delta_forms(cert.decomposition)
    terms, values = [], {}
    for o in cert.outcomes:
        if o.correct:
            continue
        if o.lines:  # a half-plane or the whole plane: its measure is a plain number
            terms.append(sympy.Rational(1, 2) if len(o.lines) == 1 else sympy.Integer(1))
            continue
        form = forms[o.piece]
        a0, a1 = sympy.symbols(f"a0_{o.piece} a1_{o.piece}", positive=form.a0 > 0 and form.a1 > 0)
        decision = (int(form.a1.numerator * form.a0.denominator), int(form.a0.numerator * form.a1.denominator))

        def symbolic(ray):
            if _parallel(ray, decision):
                values[a0], values[a1] = sympy.Rational(form.a0), sympy.Rational(form.a1)
                return (a1, a0)
            if _parallel(ray, tuple(-v for v in decision)):
                values[a0], values[a1] = sympy.Rational(form.a0), sympy.Rational(form.a1)
                return (-a1, -a0)
            return tuple(sympy.Integer(v) for v in ray)

        p, q = (symbolic(r) for r in o.rays)
        terms.append(_wedge_angle(p, q) / (2 * sympy.pi))
    return ClosedForm(sympy.Add(*terms), values)
