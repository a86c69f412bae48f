"""Agreement of the model with real MTAs.

For one scenario, case and MTA: the lab serves the scenario on loopback inside a fresh
network namespace, unbound resolves over it, the real MTA (Debian's package, in a cached
mmdebstrap chroot) delivers one message, and what it did (DNS questions, hosts tried,
RCPT TO, outcome, DSN, names logged) is compared with `mxsim trace` for the same profile
and settings. See docs/agreement.md.
"""

from mxsim.agree.compare import Comparison, FieldResult, compare, model_observation
from mxsim.agree.errors import AgreeError
from mxsim.agree.observation import Observation, Question, Try
from mxsim.agree.run import Case, agree, bundled_cases, observe_real, real_version

__all__ = [
    "AgreeError",
    "Case",
    "Comparison",
    "FieldResult",
    "Observation",
    "Question",
    "Try",
    "agree",
    "bundled_cases",
    "compare",
    "model_observation",
    "observe_real",
    "real_version",
]
