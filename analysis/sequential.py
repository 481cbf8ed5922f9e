"""The anytime-valid verdict of an adaptive evaluation: the kernel lives in `alstudy.sequential`,
where the study's scheduler uses it too; one implementation serves both."""

from alstudy.sequential import (ALPHA, BASELINE, DECISIONS, MIXTURE, Sequential, decide, decisions, e_value,  # noqa: F401
                                half_width_factor, intervals, stopping)
