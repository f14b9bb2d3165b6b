"""When to re-assert the managed-role passwords of the acting primary: a pure decision.

CNPG applies a managed role's password when the role's ``passwordSecret`` changes, not when
the database's copy drifted (after a promotion the new primary may carry an out-of-band
password: clients then fail with SQLSTATE 28P01). So after every change of acting primary —
including the first observation of a fresh instance, deliberately — the Secrets of the new
primary's managed roles are touched (controller.md §7, integrations.md §1.4), and CNPG
re-applies the canonical passwords. Never SQL.

The *watermark* is the acting primary (a region) whose role Secrets this instance last
touched; it advances only once a touch succeeded, so a failed touch is retried on the next
observation. Only the acting instance touches, and only its own region's half: with one
controller per region exactly one instance touches after a change.

Never does I/O, never reads a clock.
"""

from __future__ import annotations

import msgspec

from continuum.messages.switchover import PairHalf, PairState

__all__ = ["TouchRoleSecrets", "acting_half", "decide_roles"]


class TouchRoleSecrets(msgspec.Struct, frozen=True, kw_only=True):
    """Touch ``secrets`` (in ``namespace`` of ``region``'s API), the managed-role password
    Secrets of Cluster ``cluster``; on success the watermark becomes ``region``. No secrets:
    a successful no-op."""

    region: str
    namespace: str
    cluster: str
    secrets: tuple[str, ...]


def acting_half(pair: PairState) -> PairHalf | None:
    """The half that acts as primary, when every half was read and exactly one acts as
    primary; ``None`` when that is ambiguous (a half unreadable, none or several primaries)."""
    if not pair.halves or any(h.error for h in pair.halves):
        return None
    primaries = [h for h in pair.halves if h.acts_as_primary]
    return primaries[0] if len(primaries) == 1 else None


def decide_roles(
    watermark: str, pair: PairState, *, region: str, acting: bool, run_under_way: bool
) -> tuple[str, TouchRoleSecrets | None]:
    """The watermark to keep and the touch to make, by the first rule that applies:

    * the pair ambiguous (:func:`acting_half` is ``None``) → nothing, watermark unchanged;
    * a run of this instance under way → nothing, watermark cleared (its steps demote and
      promote: whoever acts after it touches once, even after a rollback);
    * the acting primary is the watermark → nothing (no thrash);
    * this instance does not act as writer → nothing, watermark cleared (the acting
      instance touches; this one touches when it acts again for a primary it has not
      touched for, e.g. after a failback);
    * the acting primary is another region's half → nothing, watermark unchanged (the pair
      is not yet where the lease says; convergence or the run's steps bring it there);
    * else → touch the primary's role Secrets (watermark advanced by the caller on success).
    """
    primary = acting_half(pair)
    if primary is None:
        return watermark, None
    if run_under_way:
        return "", None
    if primary.region == watermark:
        return watermark, None
    if not acting:
        return "", None
    if primary.region != region:
        return watermark, None
    return watermark, TouchRoleSecrets(
        region=primary.region,
        namespace=primary.namespace,
        cluster=primary.name,
        secrets=primary.role_secrets,
    )
