from django.dispatch import Signal

# Sent with `lab=` when staff change a lab's entry-selection rule. Courses sits below the
# apps that store standings, so it announces the change instead of importing them.
lab_selection_changed = Signal()
