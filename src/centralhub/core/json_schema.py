"""JSON Schema validation whose regular expressions run on RE2, in time linear in the input.

Schemas come from users (configuration schemas, contracts). With Python's backtracking ``re``
a pattern such as ``^(a+)+$`` against a 40-character string pins a core for minutes, stalling
every request; RE2 answers the same question in microseconds. The price is RE2's syntax: no
backreferences and no lookaround. A schema using a pattern RE2 cannot take is refused when it
is set (:class:`UnsupportedPattern`, 422), never at validation time.

``pattern``, ``patternProperties``, ``additionalProperties`` (which consults
``patternProperties``) and the ``regex`` format are replaced, and ``uniqueItems`` hashes instead
of comparing every pair; ``unevaluatedProperties`` next to
``patternProperties`` is refused, since its implementation evaluates the patterns with ``re``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import re2
from jsonschema import FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator

from centralhub.core.errors import HubError

__all__ = ["UnsupportedPattern", "check_patterns", "compile_pattern", "validator_class"]

#: distinct compiled patterns kept; each schema compiles its own once
_MAX_COMPILED = 1024
_OPTIONS = re2.Options()
# a refused pattern is answered to the caller; RE2 would also write it to standard error
_OPTIONS.log_errors = False


class UnsupportedPattern(HubError):
    """A schema holds a regular expression RE2 cannot compile (or that is too large)."""

    code = "unsupported_pattern"
    http_status = 422


@functools.lru_cache(maxsize=_MAX_COMPILED)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2; raises ``re2.error`` when RE2 cannot take it."""
    return re2.compile(pattern, options=_OPTIONS)


def _search(pattern: str, text: str) -> bool:
    try:
        return compile_pattern(pattern).search(text) is not None
    except re2.error:
        # refused when the schema was set; a schema stored before that rule matches nothing
        return False


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [key for key in instance if key not in properties and not any(_search(p, key) for p in patterns)]


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        listed = ", ".join(repr(e) for e in sorted(extras))
        if "patternProperties" in schema:
            patterns = ", ".join(repr(p) for p in sorted(schema["patternProperties"]))
            yield ValidationError(f"{listed} do not match any of the regexes: {patterns}")
        else:
            yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")


def _canonical(value: Any) -> Any:
    """A hashable form of a JSON value under JSON Schema equality (``1 == 1.0``, ``true != 1``)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, list):
        return ("l", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("d", frozenset((k, _canonical(v)) for k, v in value.items()))
    return ("v", value)


def _unique_items(
    validator: Any, unique: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # hashing keeps this linear; jsonschema's own check compares pairs, quadratic in the array
    if unique and validator.is_type(instance, "array"):
        seen = set()
        for item in instance:
            key = _canonical(item)
            if key in seen:
                yield ValidationError(f"{instance!r:.200} has non-unique elements")
                return
            seen.add(key)


def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        compile_pattern(instance)
    return True


def _format_checker(base: FormatChecker) -> FormatChecker:
    checker = FormatChecker()
    # an instance copy: ``checks`` would otherwise register into the class-wide table
    checker.checkers = dict(base.checkers)
    checker.checks("regex", raises=re2.error)(_is_regex)
    return checker


@functools.cache
def validator_class(base: type[Validator]) -> type[Validator]:
    """``base`` (a draft's validator class) with its regular expressions on RE2."""
    extended = validators.extend(
        base,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
            "uniqueItems": _unique_items,
        },
    )
    extended.FORMAT_CHECKER = _format_checker(base.FORMAT_CHECKER)
    return extended  # type: ignore[no-any-return]


def validator_for(schema: dict[str, Any]) -> type[Validator]:
    """The RE2 validator class for the draft ``schema`` declares (the latest when it does not)."""
    return validator_class(validators.validator_for(schema))


def check_patterns(schema: Any, what: str = "schema") -> None:
    """Raise :class:`UnsupportedPattern` naming the first pattern in ``schema`` RE2 refuses.

    Walks the whole document, so every ``pattern`` and ``patternProperties`` key is compiled
    whatever draft or nesting puts it there."""
    found_pattern_properties = found_unevaluated = False
    stack: list[tuple[Any, str]] = [(schema, what)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        patterns: list[tuple[str, str]] = []
        if isinstance(node.get("pattern"), str):
            patterns.append((node["pattern"], f"{where}.pattern"))
        if isinstance(node.get("patternProperties"), dict):
            found_pattern_properties = True
            patterns.extend((p, f"{where}.patternProperties") for p in node["patternProperties"])
        found_unevaluated = found_unevaluated or "unevaluatedProperties" in node
        for pattern, at in patterns:
            try:
                compile_pattern(pattern)
            except re2.error as exc:
                reason = exc.args[0] if exc.args else "invalid"
                if isinstance(reason, bytes):
                    reason = reason.decode("utf-8", "replace")
                raise UnsupportedPattern(
                    f"{at}: pattern {pattern[:200]!r} is not supported ({reason}); patterns use RE2"
                    " syntax, without backreferences or lookaround"
                ) from None
        stack.extend((v, f"{where}.{k}") for k, v in node.items())
    if found_pattern_properties and found_unevaluated:
        raise UnsupportedPattern(
            f"{what}: unevaluatedProperties together with patternProperties is not supported;"
            " use additionalProperties"
        )


def check_schema(schema: dict[str, Any]) -> None:
    """Raise :class:`UnsupportedPattern` or ``jsonschema.SchemaError`` unless ``schema`` is a
    valid JSON Schema whose patterns RE2 takes."""
    check_patterns(schema)
    cls = validator_for(schema)
    cls.check_schema(schema, format_checker=cls.FORMAT_CHECKER)
