from django import forms

from .models import Affiliation, AffiliationSource, User


class SignupExtraForm(forms.Form):
    """Fields allauth's sign-up form adds: a name and a self-declared affiliation."""

    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    affiliation = forms.ChoiceField(
        choices=Affiliation.choices,
        initial=Affiliation.PUBLIC,
        help_text=(
            "Self-declared: it stays unverified, and never makes you prize-eligible, until "
            "staff import you from the course roster or you log in with MIT single sign-on."
        ),
    )

    def signup(self, request, user: User) -> None:
        user.first_name = self.cleaned_data["first_name"]
        user.last_name = self.cleaned_data["last_name"]
        user.affiliation = self.cleaned_data["affiliation"]
        user.affiliation_source = AffiliationSource.SELF
        user.save()


class AffiliationForm(forms.ModelForm):
    """The account page: a person may change their affiliation only while it is unverified."""

    class Meta:
        model = User
        fields = ["first_name", "last_name", "affiliation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.affiliation_verified:
            # Verified by the roster or SSO: only staff change it (a posted value is ignored).
            self.fields["affiliation"].disabled = True
            self.fields["affiliation"].help_text = "Verified; ask course staff to change it."
        else:
            self.fields["affiliation"].help_text = SignupExtraForm.base_fields[
                "affiliation"
            ].help_text
