from django import forms


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="A model file (.keras, .h5, .pt2, .pt), a submission.py, or a .zip of your "
        "entry with what the lab asks for (the lab page says)."
    )
    note = forms.CharField(max_length=200, required=False, help_text="Optional, for yourself.")


class HiddenSetForm(forms.Form):
    spec_id = forms.SlugField(max_length=64, label="Lab id")
    bundle = forms.FileField(
        help_text="A .zip of the set folder that `python -m grader dataset build` wrote "
        "(manifest.json, inputs/, labels/)."
    )
