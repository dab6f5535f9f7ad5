"""Supervisors' page for wallboard kiosk links (``ivr.kiosk``): list, create, revoke.

A new link's URL is shown once, in the reply to the form that made it (never flashed or
stored: only its hash is kept). Creating and revoking are audited.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from ivr import kiosk
from ivr.audit import Action
from ivr.console.base import add_nav, bp, ivr, now, record_audit, user, when
from ivr.console.manage import supervisors_only

add_nav("console.kiosk_links", "Kiosk links", supervisor=True)


def _page(new_url: str = "", new_label: str = "", status: int = 200):
    links = [{"id": x.id, "label": x.label, "by": x.created_by, "at": when(x.created_at)}
             for x in kiosk.all_links(ivr().redis)]
    return render_template("console/kiosk_links.html", links=links, new_url=new_url,
                           new_label=new_label), status


@bp.get("/kiosk-links")
@supervisors_only
def kiosk_links():
    """Wallboard kiosk links now live, and the form for a new one."""
    return _page()


@bp.post("/kiosk-links")
@supervisors_only
def create_kiosk_link():
    """A new kiosk link; its URL is shown in this reply only."""
    link, token = kiosk.create(ivr().redis, request.form.get("label", ""), user().id, now())
    record_audit(Action.WALLBOARD_LINK_CREATED, link.id, label=link.label)
    return _page(url_for("console.kiosk_board", token=token, _external=True), link.label, 201)


@bp.post("/kiosk-links/<link_id>/revoke")
@supervisors_only
def revoke_kiosk_link(link_id: str):
    """Revoke a kiosk link: the screen showing it stops at its next refresh."""
    gone = kiosk.revoke(ivr().redis, link_id)
    if gone is None:
        abort(404)
    record_audit(Action.WALLBOARD_LINK_REVOKED, gone.id, label=gone.label)
    flash(f"Kiosk link {gone.id} ({gone.label}) revoked: its screen stops updating.", "ok")
    return redirect(url_for("console.kiosk_links"))
