"""Credentials in configuration: refused, or encrypted at rest when the schema says so, and masked.

A configuration document is shared, versioned, broadcast and shown in history, diffs, the
dashboard and the audit trail, so a credential written into it leaks everywhere. A write whose key
names a credential (``password``, ``client_secret``, ``apiKey`` ...) or whose value is a URL with a
password is refused (422 ``secret_in_config``): the value belongs in an environment variable.

A service that really needs the hub to hand it a secret marks that property ``"x-secret": true``
in its JSON Schema. Such a value is stored as ``{"$encrypted": "v1.<token>"}`` (AES-GCM, key
derived from ``CENTRAL_HUB_SECRET`` with HKDF, bound to the tenant and service), shown as ``"***"``
everywhere (:func:`mask`) and decrypted only for a caller with ``config:read`` on that service.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from centralhub.auth.context import current_principal
from centralhub.auth.models import Scope
from centralhub.config.models import Change, ConfigVersion
from centralhub.core.errors import HubError, InvalidInput

MASK = "***"
#: the one key of the object that stands for an encrypted value in a stored document
MARKER = "$encrypted"
_TOKEN_PREFIX = "v1."
_NONCE_BYTES = 12
#: how many ``$ref`` / ``allOf`` hops are followed when looking for ``x-secret`` (cycles end here)
_MAX_SCHEMA_HOPS = 16

#: a key naming a credential ends in one of these (``dbPassword``, ``client_secret``, ``apikey``)
_CREDENTIAL_WORDS = (
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "secrets",
    "token",
    "apikey",
    "apikeys",
    "privatekey",
    "accesskey",
    "secretkey",
    "credential",
    "credentials",
)
#: ... or in one of these pairs of segments (``api_key``, ``PRIVATE-KEY``, ``aws_secret_access_key``)
_CREDENTIAL_PAIRS = frozenset(
    {
        ("api", "key"),
        ("api", "keys"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
    }
)
#: ``scheme://user:password@host``: a credential inside a connection string
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]+:[^/@\s]+@", re.I)
#: ``${NAME}``: a reference to an environment variable, which is what we ask for
_ENV_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_SEGMENTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


class SecretInConfig(HubError):
    """A credential in a configuration document whose schema does not mark it ``x-secret``."""

    code = "secret_in_config"
    http_status = 422


class SecretKeyMissing(HubError):
    """An ``x-secret`` value was written but the hub has no ``CENTRAL_HUB_SECRET`` to encrypt it."""

    code = "secret_key_missing"
    http_status = 422


class SecretUnreadable(HubError):
    """A stored secret cannot be decrypted: no ``CENTRAL_HUB_SECRET`` or a different one."""

    code = "secret_unreadable"
    http_status = 503


def key_segments(key: str) -> list[str]:
    """``key`` split into lower-case words: ``dbPassword`` -> ``[db, password]``."""
    return [s.lower() for s in _SEGMENTS.findall(key)]


@functools.lru_cache(maxsize=8192)
def looks_like_credential(key: str) -> bool:
    """Whether the key names a credential; only its last words count, so ``token_url``,
    ``password_env``, ``secret_name`` or ``max_tokens`` (which describe one) are fine.

    Cached: every write walks every key of its document (and the audit copy, and the broadcast),
    and a service's keys hardly change between writes."""
    words = key_segments(key)
    if not words:
        return False
    if words[-1].endswith(_CREDENTIAL_WORDS):
        return True
    return len(words) >= 2 and (words[-2], words[-1]) in _CREDENTIAL_PAIRS


def _holds_credential(value: Any) -> bool:
    """A value that could be a credential: not ``null``, a flag, an empty string or ``${ENV}``."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str):
        return bool(value) and value != MASK and not _ENV_REFERENCE.fullmatch(value)
    return isinstance(value, int | float)


def is_encrypted(value: Any) -> bool:
    """Whether ``value`` is the stored form of a secret (``{"$encrypted": "..."}``)."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(MARKER), str)


@dataclass(frozen=True, slots=True)
class Sealed:
    """An encrypted value as one opaque leaf: equal to another exactly when the token is the same."""

    token: str


def opaque(document: Any) -> Any:
    """``document`` with each encrypted value as a :class:`Sealed` leaf, for diffing stored forms."""
    if is_encrypted(document):
        return Sealed(document[MARKER])
    if isinstance(document, dict):
        return {k: opaque(v) for k, v in document.items()}
    if isinstance(document, list):
        return [opaque(v) for v in document]
    return document


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


# ---------------------------------------------------------------- where the schema says x-secret
def _expand(schema: Any, root: dict[str, Any], hops: int = 0) -> Iterator[dict[str, Any]]:
    """``schema`` and every subschema that applies with it (local ``$ref``, ``allOf``/``anyOf``/``oneOf``)."""
    if not isinstance(schema, dict) or hops > _MAX_SCHEMA_HOPS:
        return
    yield schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target: Any = root
        for part in ref[1:].strip("/").split("/") if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        yield from _expand(target, root, hops + 1)
    for combinator in ("allOf", "anyOf", "oneOf"):
        branches = schema.get(combinator)
        if isinstance(branches, list):
            for branch in branches:
                yield from _expand(branch, root, hops + 1)


def _property_schemas(schemas: list[dict[str, Any]], root: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The subschemas that describe property ``key`` of an object described by ``schemas``."""
    out: list[dict[str, Any]] = []
    for schema in schemas:
        for s in _expand(schema, root):
            props = s.get("properties")
            if isinstance(props, dict) and isinstance(props.get(key), dict):
                out.append(props[key])
            elif isinstance(s.get("additionalProperties"), dict):
                out.append(s["additionalProperties"])
    return out


def _item_schemas(schemas: list[dict[str, Any]], root: dict[str, Any], index: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for schema in schemas:
        for s in _expand(schema, root):
            prefix = s.get("prefixItems")
            if isinstance(prefix, list) and index < len(prefix) and isinstance(prefix[index], dict):
                out.append(prefix[index])
            elif isinstance(s.get("items"), dict):
                out.append(s["items"])
    return out


def _marked_secret(schemas: list[dict[str, Any]], root: dict[str, Any]) -> bool:
    return any(s.get("x-secret") is True for schema in schemas for s in _expand(schema, root))


def _schema_roots(schema: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return ([schema] if isinstance(schema, dict) else []), (schema if isinstance(schema, dict) else {})


# ---------------------------------------------------------------- masking
def mask(document: Any, schema: dict[str, Any] | None = None) -> Any:
    """A copy of ``document`` safe to show anyone: encrypted values, ``x-secret`` properties of
    ``schema`` and values under credential-like keys (stored before they were refused) become ``"***"``."""
    schemas, root = _schema_roots(schema)
    return _mask(document, schemas, root, credential=False)


def _mask(node: Any, schemas: list[dict[str, Any]], root: dict[str, Any], *, credential: bool) -> Any:
    if is_encrypted(node) or isinstance(node, Sealed):
        return MASK
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            subs = _property_schemas(schemas, root, key) if schemas else []
            if subs and _marked_secret(subs, root) and value is not None:
                out[key] = MASK
            else:
                out[key] = _mask(value, subs, root, credential=looks_like_credential(str(key)))
        return out
    if isinstance(node, list):
        return [
            _mask(v, _item_schemas(schemas, root, i) if schemas else [], root, credential=credential)
            for i, v in enumerate(node)
        ]
    return MASK if credential and _holds_credential(node) else node


def masked_paths(document: Any, path: str = "") -> list[str]:
    """Dotted paths of the encrypted values in a stored document (what a masked copy hides)."""
    if is_encrypted(document):
        return [path or "$"]
    out: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            out.extend(masked_paths(value, _join(path, key)))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            out.extend(masked_paths(value, _join(path, i)))
    return out


def masked(version: ConfigVersion) -> ConfigVersion:
    """``version`` with its secrets shown as ``"***"`` (history, diffs, events, old versions)."""
    hidden = tuple(masked_paths(version.config))
    return dataclasses.replace(version, config=mask(version.config), secrets=hidden)


def mask_paths(document: Any, paths: list[str]) -> Any:
    """A copy of ``document`` with the values at the dotted ``paths`` shown as ``"***"``."""
    wanted = set(paths)

    def walk(node: Any, path: str) -> Any:
        if path in wanted:
            return MASK
        if isinstance(node, dict):
            return {k: walk(v, _join(path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, _join(path, i)) for i, v in enumerate(node)]
        return node

    return walk(document, "") if wanted else document


def mask_change(change: Change) -> Change:
    """``change`` with secret values (encrypted, or under a credential-like key) shown as ``"***"``."""
    credential = looks_like_credential(change.path.rsplit(".", 1)[-1])
    return Change(
        change.path,
        change.op,
        old=_mask(change.old, [], {}, credential=credential),
        new=_mask(change.new, [], {}, credential=credential),
        extra=change.extra,
    )


def may_see_secrets(version: ConfigVersion) -> bool:
    """Whether the request's caller may read ``version``'s secrets: ``config:read`` on the
    service in its tenant (everyone when auth is off)."""
    principal = current_principal.get()
    return (
        principal.has(Scope.CONFIG_READ)
        and principal.may_act_for(version.service_name)
        and principal.tenant in (None, version.tenant_id)
    )


# ---------------------------------------------------------------- encryption
class SecretBox:
    """Refuses credentials in documents, encrypts ``x-secret`` values and decrypts them again.

    ``secret`` is ``CENTRAL_HUB_SECRET``; without one, ``x-secret`` values can be neither written
    nor read (there is no default key to fall back on)."""

    def __init__(self, secret: str | None) -> None:
        self._aead: AESGCM | None = None
        if secret:
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"centralhub/config-secrets",
                info=b"config values v1",
            ).derive(secret.encode())
            self._aead = AESGCM(key)

    @staticmethod
    def _context(tenant: str, service: str) -> bytes:
        # a token only opens for the (tenant, service) it was written for
        return f"{tenant}\x00{service}".encode()

    def encrypt(self, tenant: str, service: str, value: Any, path: str) -> dict[str, str]:
        if self._aead is None:
            raise SecretKeyMissing(
                f"{path} is marked x-secret: encrypting it needs CENTRAL_HUB_SECRET to be set on the hub"
            )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, orjson.dumps(value), self._context(tenant, service))
        return {MARKER: _TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()}

    def decrypt(self, tenant: str, service: str, marker: dict[str, Any], path: str) -> Any:
        if self._aead is None:
            raise SecretUnreadable(
                f"{path} is stored encrypted and the hub has no CENTRAL_HUB_SECRET to read it"
            )
        token = str(marker[MARKER])
        try:
            if not token.startswith(_TOKEN_PREFIX):
                raise ValueError("unknown token version")
            raw = base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :])
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._context(tenant, service))
            return orjson.loads(plain)
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable(
                f"{path} cannot be decrypted with the configured CENTRAL_HUB_SECRET (was it changed?)"
            ) from exc

    def reveal(self, tenant: str, service: str, document: Any, path: str = "") -> Any:
        """``document`` with every encrypted value decrypted (the document itself when it has none)."""
        return self._reveal(tenant, service, document, path) if masked_paths(document) else document

    def _reveal(self, tenant: str, service: str, node: Any, path: str) -> Any:
        if is_encrypted(node):
            return self.decrypt(tenant, service, node, path or "$")
        if isinstance(node, dict):
            return {k: self._reveal(tenant, service, v, _join(path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self._reveal(tenant, service, v, _join(path, i)) for i, v in enumerate(node)]
        return node

    def opened(self, version: ConfigVersion) -> ConfigVersion:
        """``version`` with its secrets decrypted, for building and checking the next one."""
        plain = self.reveal(version.tenant_id, version.service_name, version.config)
        return version if plain is version.config else dataclasses.replace(version, config=plain)

    def for_caller(self, version: ConfigVersion) -> ConfigVersion:
        """Secrets decrypted for a caller with ``config:read`` on the service, masked for others
        (the caller is the request's principal; everything when auth is off)."""
        return self.shown(version, full=may_see_secrets(version))

    def shown(self, version: ConfigVersion, *, full: bool) -> ConfigVersion:
        """``version`` as a caller sees it: secrets decrypted (``full``) or masked."""
        if full:
            hidden = tuple(masked_paths(version.config))
            return dataclasses.replace(self.opened(version), secrets=hidden)
        return masked(version)

    def seal(
        self,
        tenant: str,
        service: str,
        document: dict[str, Any],
        schema: dict[str, Any] | None,
        *,
        stored: Any = None,
        plain: Any = None,
    ) -> dict[str, Any]:
        """The form of ``document`` to store: credentials refused, ``x-secret`` values encrypted.

        ``stored``/``plain`` are the current version as stored and decrypted: an unchanged secret
        (or one written back as ``"***"``) keeps its stored token, so diffs show no change."""
        schemas, root = _schema_roots(schema)
        sealed = _Sealer(self, tenant, service, root).node(document, schemas, "", False, stored, plain)
        assert isinstance(sealed, dict)
        return sealed


class _Sealer:
    """One walk of :meth:`SecretBox.seal` over a document, its schema and the current version."""

    def __init__(self, box: SecretBox, tenant: str, service: str, root: dict[str, Any]) -> None:
        self.box, self.tenant, self.service, self.root = box, tenant, service, root

    def node(
        self, node: Any, schemas: list[dict[str, Any]], path: str, credential: bool, stored: Any, plain: Any
    ) -> Any:
        if isinstance(node, dict):
            if MARKER in node:
                raise InvalidInput(
                    f"{_join(path, MARKER)}: the key {MARKER!r} is reserved for encrypted values"
                )
            out: dict[str, Any] = {}
            for key, value in node.items():
                sub_path = _join(path, key)
                subs = _property_schemas(schemas, self.root, key) if schemas else []
                old = stored.get(key) if isinstance(stored, dict) else None
                old_plain = plain.get(key) if isinstance(plain, dict) else None
                if subs and _marked_secret(subs, self.root) and value is not None:
                    out[key] = self.secret(value, sub_path, old, old_plain)
                else:
                    credential = looks_like_credential(str(key))
                    out[key] = self.node(value, subs, sub_path, credential, old, old_plain)
            return out
        if isinstance(node, list):
            return [
                self.node(
                    v,
                    _item_schemas(schemas, self.root, i) if schemas else [],
                    _join(path, i),
                    credential,
                    stored[i] if isinstance(stored, list) and i < len(stored) else None,
                    plain[i] if isinstance(plain, list) and i < len(plain) else None,
                )
                for i, v in enumerate(node)
            ]
        if credential and _holds_credential(node):
            raise SecretInConfig(
                f"{path} looks like a credential: keep it in an environment variable "
                '(or mark the property "x-secret": true in the service\'s schema)',
            )
        if isinstance(node, str) and _URL_WITH_PASSWORD.match(node):
            raise SecretInConfig(
                f"{path} is a URL with a password in it: keep the password in an environment variable "
                '(or mark the property "x-secret": true in the service\'s schema)',
            )
        return node

    def secret(self, value: Any, path: str, stored: Any, plain: Any) -> Any:
        if is_encrypted(stored) and value in (MASK, plain):
            return stored  # unchanged: same token, so history and diff show no change
        return self.box.encrypt(self.tenant, self.service, value, path)
