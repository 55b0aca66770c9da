"""Every model's parameters, declared once (``recfactor.models.params.declare``): the models
fit with them, the command line offers them as flags, ``tune`` searches their spaces. Kept
apart from the models, which load numpy and the kernels, so that ``recfactor --help`` and the
flags cost nothing to read."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from recfactor.errors import ParameterError
from recfactor.models.params import Params, declare

# Surprise's BaselineOnly defaults (ALS): 10 epochs, reg_u 15, reg_i 10.
BIAS_EPOCHS = 10
BIAS_REG_U = 15.0
BIAS_REG_I = 10.0

INITS = ("random", "nndsvd", "nndsvda")
# Surprise's epochs on ratings; scikit-learn's iteration cap on a whole matrix.
EXPLICIT_EPOCHS = 50
IMPLICIT_MAX_ITER = 200

# Defaults for implicit feedback, chosen on ML-100K with a per-user holdout (BENCHMARKS.md): a
# ridge penalty of the implicit library's size (0.01 to 0.05) lets alpha 40 overfit to below
# popularity's ndcg@10.
IMPLICIT_REG = 150.0
IMPLICIT_FACTORS = 64
# Spark's: rank 10, regParam 0.1.
EXPLICIT_FACTORS = 10
EXPLICIT_REG = 0.1


@dataclass(frozen=True)
class BaselineParams(Params):
    """Defaults as Surprise's BaselineOnly (ALS): 10 epochs, reg_u 15, reg_i 10."""

    epochs: int = declare(BIAS_EPOCHS, low=1, help="Passes over the data",
                          feedback="explicit")  # fmt: skip
    reg_u: float = declare(BIAS_REG_U, low=0.0, flag="reg", feedback="explicit",
                           help="Regularisation of the user and item biases",
                           space="1..50:log")  # fmt: skip
    reg_i: float = declare(BIAS_REG_I, low=0.0, flag="reg", feedback="explicit",
                           help="Regularisation of the user and item biases",
                           space="1..50:log")  # fmt: skip


@dataclass(frozen=True)
class SVDParams(Params):
    """Defaults chosen on six rating sets (BENCHMARKS.md, "Defaults"): 20 epochs of a step
    decaying from 0.1, and ``lr`` and ``reg`` read in units of the ratings' spread
    (``standardize``), so that one setting fits 1-5 stars and -10..10 alike; ``reg`` is chosen
    by the data (on a tenth of the ratings held out) unless given. ``preset="surprise"``
    gives Surprise's (20 epochs, lr 0.005, reg 0.02, in the ratings' own units), which stop
    far from the optimum: on MovieLens 100K 0.936 against 0.910, and on a sparse half-star
    set barely below the baseline; ``preset="libmf"`` LIBMF's model (k 8, no biases, reg 0.1
    in the ratings' units)."""

    factors: int = declare(100, low=1, short="-k", help="Latent factors",
                           presets={"libmf": 8}, space="16..256:log2")  # fmt: skip
    epochs: int = declare(20, low=1, help="Passes over the data", feedback="explicit",
                          solvers=("sgd",), presets={"surprise": 20, "libmf": 20},
                          space="10..100")  # fmt: skip
    lr: float = declare(0.1, above=0.0, help="SGD learning rate (the first epoch's)",
                        feedback="explicit", solvers=("sgd",), presets={"surprise": 0.005},
                        space="0.02..0.2:log")  # fmt: skip
    # Large steps first, small ones to settle: 20 epochs from 0.1 by 0.85 reach what 50
    # constant ones of 0.01 did on MovieLens 100K, and better on the synthetic sets.
    lr_decay: float = declare(0.85, above=0.0, high=1.0, help="Each epoch's learning rate is "
                              "the last one's times this (1: constant)", feedback="explicit",
                              solvers=("sgd",), presets={"surprise": 1.0})  # fmt: skip
    # None: the fit tries a ladder of values on a held-out tenth of the ratings and keeps the
    # best (MovieLens wants 0.1, the synthetic sets 0.07; no one value wins on all six). Not
    # in `tune`'s space: each trial chooses it so, as the default fit does. Searched, the
    # random folds of MovieLens 100K's u1.base chose a penalty that u1.test ranked below the
    # default's (BENCHMARKS.md, "svd tuned: the penalty chosen by the data").
    reg: float | None = declare(None, low=0.0, help="Regularisation", feedback="explicit",
                                solvers=("sgd",),
                                presets={"surprise": 0.02, "libmf": 0.1})  # fmt: skip
    standardize: bool = declare(
        True, help="Read lr and reg in units of the ratings' standard deviation (off: the "
        "ratings' own units, as Surprise and LIBMF)", feedback="explicit", solvers=("sgd",),
        switch=True, presets={"surprise": False, "libmf": False},
    )  # fmt: skip
    init_mean: float = declare(0.0)
    init_std: float = declare(0.1, low=0.0, help="Standard deviation of the initial factors",
                              feedback="explicit", solvers=("sgd",))  # fmt: skip
    bias: bool = declare(True, help="Learn user and item biases", feedback="explicit",
                         solvers=("sgd",), switch=True, presets={"libmf": False})  # fmt: skip
    # A row with n ratings takes n steps an epoch: where n is large (an item of the 10M set
    # has 900), their sum overshoots and its noise lingers. Its step times sqrt(300 / n)
    # gave 0.6022 against 0.6039 there after 20 epochs, and the same error in 12; the six sets
    # of "Defaults" are unmoved (150 cost them up to 0.0016; BENCHMARKS.md).
    dense_rows: int = declare(300, low=0, help="A row (user or item) with more ratings than "
                              "this takes smaller factor steps, times sqrt(this / its "
                              "ratings); 0: every row the same step", feedback="explicit",
                              solvers=("sgd",), presets={"surprise": 0, "libmf": 0})  # fmt: skip
    # 20 epochs are more than large data needs: the 10M set reached in 14 a lower error than
    # 20 gave before (BENCHMARKS.md). `epochs` stays the most run.
    early_stop: bool = declare(
        True, help="On more than a million ratings, hold 1% of them out and stop at the "
        "first epoch from the 10th that lowers their error by less than 0.05% (`epochs` the "
        "most)",
        feedback="explicit", solvers=("sgd",), switch=True,
        presets={"surprise": False, "libmf": False},
    )  # fmt: skip
    solver: str = declare(
        "sgd", choices=("sgd", "lanczos"), feedback="explicit",
        help="sgd, or lanczos (a truncated SVD of the baseline residuals)",
    )  # fmt: skip


@dataclass(frozen=True)
class SVDppParams(Params):
    """Defaults 50 epochs, lr 0.01, reg 0.1 (in the ratings' units) at Surprise's 20 factors;
    ``preset="surprise"`` gives Surprise's SVDpp (20 epochs, lr 0.007, reg 0.02)."""

    feedbacks: ClassVar[tuple[str, ...]] = ("explicit",)

    factors: int = declare(20, low=1, short="-k", help="Latent factors", space="8..128:log2")
    epochs: int = declare(50, low=1, help="Passes over the data", presets={"surprise": 20},
                          space="20..100")  # fmt: skip
    lr: float = declare(0.01, above=0.0, help="SGD learning rate", presets={"surprise": 0.007},
                        space="0.002..0.02:log")  # fmt: skip
    reg: float = declare(0.1, low=0.0, help="Regularisation", presets={"surprise": 0.02},
                         space="0.01..0.3:log")  # fmt: skip
    init_mean: float = declare(0.0)
    init_std: float = declare(0.1, low=0.0, help="Standard deviation of the initial factors")


@dataclass(frozen=True)
class NMFParams(Params):
    """Explicit defaults equal Surprise's NMF; implicit ones follow scikit-learn's."""

    factors: int = declare(15, low=1, short="-k", help="Latent factors", space="2..64:log2")
    # explicit: 50; implicit: at most 200 iterations
    epochs: int | None = declare(None, low=1, help="Passes over the data", space="20..200")
    reg_pu: float = declare(0.06, low=0.0, flag="reg", help="Regularisation of P and Q",
                            feedback="explicit", space="0.01..0.5:log")  # fmt: skip
    reg_qi: float = declare(0.06, low=0.0, flag="reg", help="Regularisation of P and Q",
                            feedback="explicit", space="0.01..0.5:log")  # fmt: skip
    reg_bu: float = declare(0.02, low=0.0)
    reg_bi: float = declare(0.02, low=0.0)
    bias: bool = declare(False, help="Learn user and item biases", feedback="explicit",
                         switch=True)  # fmt: skip
    init_low: float = declare(0.0, low=0.0)
    init_high: float = declare(1.0, low=0.0)
    # explicit: mu (the only one); implicit: cd or mu
    solver: str | None = declare(None, choices=("mu", "cd"),
                                 help="mu, or cd for implicit data (whole-matrix NMF)")  # fmt: skip
    init: str = declare("random", choices=INITS, help="Starting point", feedback="implicit")
    l1_w: float = declare(0.0, low=0.0, help="L1 penalty on W", feedback="implicit")
    l1_h: float = declare(0.0, low=0.0, help="L1 penalty on H", feedback="implicit")
    l2_w: float = declare(0.0, low=0.0, help="L2 penalty on W", feedback="implicit")
    l2_h: float = declare(0.0, low=0.0, help="L2 penalty on H", feedback="implicit")
    tol: float = declare(1e-4, low=0.0, feedback="implicit",
                         help="Stop when the optimality violation falls below tol times its "
                         "first value")  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init_high <= self.init_low:
            raise ParameterError("init-high must be above init-low")

    def resolved(self, feedback: str) -> NMFParams:
        explicit = feedback == "explicit"
        return dataclasses.replace(
            self,
            epochs=self.epochs or (EXPLICIT_EPOCHS if explicit else IMPLICIT_MAX_ITER),
            solver=self.solver or ("mu" if explicit else "cd"),
        )


@dataclass(frozen=True)
class ALSParams(Params):
    """Explicit defaults: Spark's ALS (rank 10, maxIter 10, regParam 0.1) with user and item
    biases; ``preset="spark"`` drops the biases, as Spark's."""

    # explicit 10, implicit 64
    factors: int | None = declare(None, low=1, short="-k", help="Latent factors",
                                  space="8..128:log2")  # fmt: skip
    epochs: int = declare(10, low=1, help="Passes over the data", space="5..30")
    # explicit 0.1 (times each row's count), implicit 150
    reg: float | None = declare(None, low=0.0, help="Regularisation",
                                space={"explicit": "0.02..0.5:log",
                                       "implicit": "1..1000:log"})  # fmt: skip
    alpha: float = declare(40.0, low=0.0, help="Confidence 1 + alpha * value",
                           feedback="implicit", space="1..100:log")  # fmt: skip
    # "scaled": confidence 1 + alpha * value / mean(value), so alpha means the same for 0/1
    # clicks, 1-5 stars and play counts; "raw": 1 + alpha * value, as Hu, Koren and Volinsky.
    confidence: str = declare("scaled", choices=("scaled", "raw"), feedback="implicit",
                              help="scaled (1 + alpha * value / mean value) or raw "
                              "(1 + alpha * value)")  # fmt: skip
    # None: explicit, yes (on a sparse half-star set ALS without biases scored worse than the
    # biases alone; BENCHMARKS.md, "Defaults"); implicit, no. Spark's ALS has none.
    bias: bool | None = declare(None, help="Learn user and item biases", feedback="explicit",
                                switch=True, presets={"spark": False})  # fmt: skip
    nonnegative: bool = declare(False, help="Non-negative factors (NNLS rows)",
                                feedback="explicit")  # fmt: skip
    solver: str = declare("cholesky", choices=("cholesky", "cg"),
                          help="cholesky, or cg for implicit data")  # fmt: skip
    cg_steps: int = declare(3, low=1)
    # None: explicit, "orthant"; implicit (or with init_std), "normal".
    init: str | None = declare(None, choices=("orthant", "sphere", "normal"),
                               help="orthant: unit rows, non-negative; sphere: unit rows of "
                               "any sign (Spark's start); normal: N(0, init-std)")  # fmt: skip
    # None: 0.1 (init "normal" only)
    init_std: float | None = declare(None, low=0.0,
                                     help="Standard deviation of the initial factors")  # fmt: skip
    # None: explicit, yes (Zhou et al., as Spark); implicit, no (Hu et al.; Spark: yes).
    weighted_reg: bool | None = declare(None, switch=True,
                                        help="Each row's penalty times its count of ratings "
                                        "(weighted lambda, as Spark's ALS)")  # fmt: skip

    def resolved(self, feedback: str) -> ALSParams:
        explicit = feedback == "explicit"
        start = "orthant" if explicit and self.init_std is None else "normal"
        return dataclasses.replace(
            self,
            factors=self.factors or (EXPLICIT_FACTORS if explicit else IMPLICIT_FACTORS),
            reg=self.reg if self.reg is not None else (EXPLICIT_REG if explicit else IMPLICIT_REG),
            bias=self.bias if self.bias is not None else explicit,
            init=self.init or start,
            weighted_reg=self.weighted_reg if self.weighted_reg is not None else explicit,
        )


@dataclass(frozen=True)
class BPMFParams(Params):
    """``factors=10, epochs=150`` sweeps of which ``burn_in=20`` are discarded, ``samples=50``
    kept (evenly spaced), noise precision ``alpha=2`` in units of the ratings' variance."""

    feedbacks: ClassVar[tuple[str, ...]] = ("explicit",)

    factors: int = declare(10, low=1, short="-k", help="Latent factors", space="5..40")
    epochs: int = declare(150, low=1, help="Gibbs sweeps, the burn-in included",
                          space="60..300")  # fmt: skip
    burn_in: int = declare(20, low=0, help="Sweeps discarded before any is kept")
    samples: int = declare(50, low=1, help="Sweeps kept for the average (saved side by side)")
    alpha: float = declare(2.0, above=0.0, help="Precision of the ratings' noise, in units of "
                           "their variance (2: noise of half their variance)",
                           space="1..4:log")  # fmt: skip


@dataclass(frozen=True)
class BFMParams(Params):
    """``factors=16, epochs=200`` sweeps of which ``burn_in=50`` are discarded and
    ``samples=100`` kept (evenly spaced); ``implicit``: each user's rated items and each item's
    raters as features (SVD++'s signal); ``time``: the day of each rating as a context, off by
    default (on MovieLens 100K u1..u5, ordinal, it lowers the error of a prediction at its day
    by 0.0020 and raises that of one without a day, as recommend's, by 0.0019: BENCHMARKS.md);
    ``likelihood``: ordinal (an ordered probit) for ratings on a scale of a few levels. The
    priors are learned (one per feature group), so there is no regularisation to tune."""

    feedbacks: ClassVar[tuple[str, ...]] = ("explicit",)

    # What `tune` searches: the rank. With the priors learned there is no penalty to tune.
    # Ordinal, on MovieLens 100K u1..u5 with IDs and implicit features, rank 24 and 32 scored
    # 0.8761 and 0.8756 where 16 scored 0.8782 (with the attributes, 20 and 16 were level),
    # and a longer chain scored worse; Gaussian, a longer chain scored better on every fold
    # (BENCHMARKS.md: "bfm tuned: the chain's length", "bfm's ordered-probit likelihood").
    factors: int = declare(16, low=1, short="-k", help="Latent factors", space="8..48:log")
    epochs: int = declare(200, low=1, help="Gibbs sweeps, the burn-in included")
    burn_in: int = declare(50, low=0, help="Sweeps discarded before any is kept")
    samples: int = declare(100, low=1, help="Sweeps kept for the average (saved side by side)")
    implicit: bool = declare(True, switch=True, help="The items each user rated and the users "
                             "who rated each item as features (1/sqrt(n) each)")  # fmt: skip
    time: bool = declare(False, switch=True, help="The day of each rating as a context (the "
                         "data's time column); predict uses it where PAIRS has times")  # fmt: skip
    # Ordinal where the ratings take at most 10 values (models/ordinal.py): on MovieLens 100K
    # u1..u5 with attributes, 0.8746 (rank 16) against the Gaussian's 0.8822 (rank 10,
    # BENCHMARKS.md).
    likelihood: str = declare("auto", choices=("auto", "gaussian", "ordinal"),
                              help="How a rating arises from the model: ordinal (an ordered "
                              "probit over the scale's levels), gaussian, or auto: ordinal for "
                              "ratings of at most 10 distinct values")  # fmt: skip
