from django import forms


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="A model file (.keras, .h5, .pt2, .pt), a submission.py, or a .zip of your "
        "entry with what the lab asks for (the lab page says)."
    )
    note = forms.CharField(max_length=200, required=False, help_text="Optional, for yourself.")
