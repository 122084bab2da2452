"""Custom Rasa actions, registered by name: ``ActionExecutor().register_package("actions")``.

- ``procedures``: answer a procedure question by aspect, disambiguate, switch procedures;
- ``guide``: the personalised guide form, checklist and step-by-step walkthrough;
- ``conversation``: fallback chain, yes/no in context, ratings, hand-off to staff.
"""
