"""Emails about what someone else did to you: a group invitation, your group's pitch sign-up."""

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.urls import reverse

from projects.models import Invitation, ProjectGroup

from .services import send_once


@receiver(post_save, sender=Invitation)
def _invitation_created(sender, instance: Invitation, created: bool, **kwargs) -> None:
    if not created:
        return
    group = instance.group
    link = settings.SITE_URL + reverse("projects-home", args=[group.edition.slug])

    def send() -> None:
        send_once(
            instance.invitee,
            "group-invitation",
            str(instance.pk),
            f"{instance.invited_by or 'Someone'} invited you to the group {group.name}",
            f"Hello {instance.invitee},\n\n{instance.invited_by or 'Someone'} invited you to join "
            f"the final-project group “{group.name}”. Accept or decline here:\n{link}\n",
        )

    transaction.on_commit(send)


@receiver(post_save, sender=ProjectGroup)
def _pitch_signed_up(sender, instance: ProjectGroup, update_fields=None, **kwargs) -> None:
    # Only the sign-up action (projects.services.pitch_signup saves these fields) is
    # confirmed; groups made already signed up (seeding, the admin) email nobody.
    signed_up_at = instance.signed_up_at
    if signed_up_at is None or not update_fields or "signed_up_at" not in update_fields:
        return
    group = instance
    when = group.edition.format_time(signed_up_at)
    link = settings.SITE_URL + reverse("projects-home", args=[group.edition.slug])

    def send() -> None:
        for membership in group.memberships.select_related("user"):
            send_once(
                membership.user,
                "pitch-signup",
                f"{group.pk}:{signed_up_at.isoformat()}",
                f"Your group {group.name} is signed up to pitch",
                f"Hello {membership.user},\n\nYour group “{group.name}” signed up to pitch "
                f"({group.title or 'no title yet'}) on {when}.\n{link}\n",
            )

    transaction.on_commit(send)
