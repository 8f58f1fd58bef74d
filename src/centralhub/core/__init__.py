"""The thin shared core every capability builds on: settings, database, event bus, errors, time,
supervised tasks and the wire rules shared with the SDK.

Importing this package imports nothing: each module is imported where it is used, so the SDK can
use :mod:`centralhub.core.wire` without the hub's dependencies.
"""
