"""Policies: patterns (what a rule's words mean), the model (rules, settings, the decision for a
shell analysis it is given), the loader (TOML, checks, examples) and the sources (which files
are in force: the user's, the repository's, trust). Everything other modules use is here.
"""

from __future__ import annotations

from .loader import _RULE_KEYS as _RULE_KEYS  # the keys a [[rule]] and [settings] may hold
from .loader import _SETTINGS_KEYS as _SETTINGS_KEYS
from .loader import (
    EMBEDDED_NAME,
    MAX_DURATION,
    MAX_POLICY_BYTES,
    PREPARSED_NAME,
    PolicyFile,
    embedded_policy_text,
    parse_duration,
    parse_policy,
    parse_policy_file,
    policy_path,
    preparsed,
    read_policy_bytes,
    read_policy_file,
    read_toml,
    real_path,
    rule_matches_command,
    rule_matches_example,
    validation_key,
)
from .model import (
    ALLOW,
    ASK,
    DECISIONS,
    DENY,
    RANK,
    UNPARSEABLE_RULE,
    Evaluation,
    PartResult,
    Policy,
    Rule,
    Settings,
    Source,
    placed,
    stricter,
)
from .patterns import (
    Pattern,
    Shape,
    glob_regex,
    normalize_argv,
    normalize_dynamic,
    split_long_options,
    unknown_shape,
)
from .sources import (
    REPO_POLICY_NAME,
    combine,
    load_policy,
    load_service_policy,
    locate_primary,
    repo_policy_files,
)

__all__ = [
    "ALLOW", "ASK", "DECISIONS", "DENY", "EMBEDDED_NAME", "MAX_DURATION", "MAX_POLICY_BYTES",
    "PREPARSED_NAME", "RANK", "REPO_POLICY_NAME", "UNPARSEABLE_RULE", "Evaluation", "PartResult",
    "Pattern", "Policy", "PolicyFile", "Rule", "Settings", "Shape", "Source", "combine",
    "embedded_policy_text", "glob_regex", "load_policy", "load_service_policy", "locate_primary", "normalize_argv",
    "normalize_dynamic", "parse_duration", "parse_policy", "parse_policy_file", "placed",
    "policy_path", "preparsed", "read_policy_bytes", "read_policy_file", "read_toml", "real_path",
    "repo_policy_files",
    "rule_matches_command", "rule_matches_example", "split_long_options", "stricter",
    "unknown_shape", "validation_key",
]
