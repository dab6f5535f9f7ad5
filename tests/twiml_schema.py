"""The TwiML validator now lives in the package (the stand-in uses it on every document);
re-exported here so the tests' ``from twiml_schema import ...`` keeps working."""

from ivr.sim.twiml_schema import (  # noqa: F401
    CONTEXTS,
    SCHEMA_PATH,
    TERMINAL_VERBS,
    TwimlError,
    load_schema,
    validate,
    verbs,
)
