"""schemathesis hooks for .ci/schemathesis: what the run cannot learn from the document alone.

Whole floats. The server takes a JSON integer only as an integer literal: `100`, never `100.0` or `1e2` (API.md:
amounts are integers; tests/it/bad_input.rs refuses both on purpose). JSON Schema's `integer` counts
`100.0` as an integer, so no schema can state that rule, and schemathesis sends whole floats for
integer fields of JSON bodies to find readers that refuse them. Those bodies are not generated as
valid data here; as invalid data, and everything else, they still are.
"""

import schemathesis


def _has_whole_float(value):
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_whole_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_whole_float(item) for item in value)
    return False


@schemathesis.hook
def filter_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    return not _has_whole_float(case.body)


# The risk policy is a TOML file (`PUT /v1/ops/policy`): text, sent as it is.
schemathesis.serializer.alias("application/toml", "text/plain")


# `positive_data_acceptance` expects every request that matches the schema to be accepted. For these
# operations the server also checks rules that no JSON Schema can state, so it refuses some
# schema-valid requests with 400 `validation_failed` (problem+json, nothing changed: the other checks
# still hold those answers to the document). The exception is this check on these operations only;
# `--checks all` on the command line overrides any per-operation setting of the config file.
NOT_STATED_BY_THE_SCHEMA = {
    # The policy is TOML: its keys, ranges and amounts are the policy parser's to check.
    "PUT /v1/ops/policy": "a TOML file's keys and values",
    # Shares must split the total within the per-share minimum and HONGBAO_MAX_SHARE_AMOUNT; which
    # fields apply depends on the kind and the audience together.
    "POST /v1/packets": "how the total splits into shares",
    # Exactly one of case_id and rule, and a hold that fits the wallet.
    "POST /v1/ops/freezes": "case_id or rule, and the hold against the wallet",
    # Only the caller's own transactions, of a kind its complaint kind may name, and unattached evidence.
    "POST /v1/complaints": "whose transactions and evidence they are",
    # The file's bytes must be of the type its part claims, checked from the bytes.
    "POST /v1/evidence": "the file's bytes against its type",
    # from <= to <= the journal's size now.
    "GET /v1/journal/consistency": "the tree sizes against the journal",
    # Only a packet claim or a transfer settlement that the caller paid can be asked back.
    "POST /v1/return-requests": "which transaction may be asked back",
    # A receiver at a loopback, private or unspecified address (`http://0`) is refused.
    "POST /v1/ops/webhooks": "whether the receiver's address is public",
}


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if type(failure).__name__ != "RejectedPositiveData":
        return True
    return case.operation.label not in NOT_STATED_BY_THE_SCHEMA
