"""The staff form that grants an extension from the timeline page (courses.services decides)."""

from zoneinfo import ZoneInfo

from django import forms
from django.db.models import Q
from django.utils import timezone

from accounts.models import User

from . import services
from .models import Edition, Extension, zone_label

STEPS = [
    (f"step:{step}", label) for step, label in Extension.Step.choices if step != Extension.Step.LAB
]


class ExtensionGrantForm(forms.Form):
    """One student's later deadline for a lab or a final-project step, with the reason. The
    deadline is typed in the edition's zone, named beside it; the rules (the lab's phase, an
    announced result, a student who has seen the private split) are the services'."""

    what = forms.ChoiceField(label="For")
    student = forms.CharField(label="Student", max_length=254, help_text="Username or email.")
    closes_at = forms.DateTimeField(
        label="New deadline",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(label="Reason", max_length=300)

    def __init__(self, edition: Edition, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.edition = edition
        labs = [
            (f"lab:{lab.pk}", lab.title) for lab in edition.labs.order_by("position", "spec_id")
        ]
        what = self.fields["what"]
        assert isinstance(what, forms.ChoiceField)
        what.choices = labs + STEPS
        self.fields["closes_at"].label = f"New deadline ({zone_label(edition.time_zone)})"

    def full_clean(self) -> None:
        # A deadline typed without a zone is in the edition's zone, whatever the server's.
        with timezone.override(ZoneInfo(self.edition.time_zone)):
            super().full_clean()

    def clean_student(self) -> User:
        who = self.cleaned_data["student"].strip()
        user = User.objects.filter(Q(username__iexact=who) | Q(email__iexact=who)).first()
        if user is None:
            raise forms.ValidationError(f"No account with the username or email “{who}”.")
        return user

    def grant(self, *, by: User) -> Extension:
        what, value = self.cleaned_data["what"].split(":", 1)
        data = self.cleaned_data
        if what == "lab":
            lab = self.edition.labs.get(pk=int(value))
            return services.extension_grant(
                lab=lab,
                user=data["student"],
                closes_at=data["closes_at"],
                reason=data["reason"],
                by=by,
            )
        return services.project_extension_grant(
            edition=self.edition,
            user=data["student"],
            step=value,
            closes_at=data["closes_at"],
            reason=data["reason"],
            by=by,
        )
