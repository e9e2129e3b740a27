"""The web dashboard served at ``/`` and the offline assets of ``/docs`` (see ``web.py``)."""
