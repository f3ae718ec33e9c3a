"""A property-based run of schemathesis over /api/v1: no 5xx, and every answer matches the contract.

Requests are generated from the served OpenAPI document (valid ones, and ones that break it on
purpose) and sent to the app in-process over WSGI, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bridge.settings import Settings
from tests.support.redemptions import fund, make_token
from webhooks import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 15


def _aim_at_alice(case, hit: bool):  # type: ignore[no-untyped-def]
    """Point some valid requests at the funded learner, so debits, 409s and events are explored."""
    if not hit:
        return case
    if isinstance(case.body, dict) and "learner" in case.body:
        case.body["learner"] = "alice@example.com"
        if "credit_type" in case.body:
            case.body["credit_type"] = "mentor_minutes"
        if "sku" in case.body:  # an outcome event about the SKU alice bought
            case.body["sku"] = "MENTOR-PACK-5H"
    if case.path_parameters and "learner" in case.path_parameters:
        case.path_parameters["learner"] = "alice@example.com"
    return case


def test_generated_requests_get_no_server_error_and_answers_match_the_contract(
    engine, database_url
):
    """Every operation, fed generated valid and invalid requests, answers as documented, no 5xx."""
    fund(engine)
    app = create_app(Settings().replace(database={"url": database_url}), engine)
    auth = {"Authorization": f"Bearer {make_token(engine, 'fuzzer', 'write,privacy')}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6  # schemathesis leaves out the document's own path
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                strategy = st.builds(_aim_at_alice, strategy, st.booleans())

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):  # type: ignore[no-untyped-def]
                response = case.call(headers=auth)
                case.validate_response(response, checks=CHECKS)

            run()
