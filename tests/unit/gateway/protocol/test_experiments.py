"""The experiment definition's optional `metrics` block: metric roles for the A/B report (issue 20)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.protocol.experiments import ExperimentDefinition

ARMS = [{"name": "control"}, {"name": "treatment"}]


def test_roles_parse_and_are_stored_with_the_definition() -> None:
    exp = ExperimentDefinition.model_validate(
        {"name": "e", "arms": ARMS, "metrics": {"decision": "car", "secondary": ["wcar", "pcw"], "guardrails": []}}
    )
    assert exp.metrics is not None and exp.metrics.decision == "car"
    assert exp.model_dump(mode="json")["metrics"] == {
        "decision": "car",
        "secondary": ["wcar", "pcw"],
        "guardrails": [],
    }
    default = ExperimentDefinition.model_validate({"name": "e", "arms": ARMS, "metrics": {}})
    assert default.metrics is not None and default.metrics.decision == "acceptance_rate"
    assert ExperimentDefinition.model_validate({"name": "e", "arms": ARMS}).metrics is None


@pytest.mark.parametrize(
    "metrics",
    [
        {"decision": "car", "secondary": ["car"]},  # one role per metric
        {"decision": "Car; drop"},  # names are the report's identifiers
        {"decision": "x" * 65},
        {"secondary": ["a"] * 51},
        {"decision": "car", "weights": [1]},  # unknown key
    ],
)
def test_bad_roles_are_refused(metrics: dict) -> None:
    with pytest.raises(ValidationError):
        ExperimentDefinition.model_validate({"name": "e", "arms": ARMS, "metrics": metrics})
