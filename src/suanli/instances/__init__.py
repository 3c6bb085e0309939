"""Instances: what a lease of a container, vm or bare-metal product delivers (SSH, JupyterLab, exposed ports).

``models`` (tables), ``keys`` (the buyers' SSH keys), ``images`` (images data centers offer), ``service`` (creating,
reading and hand-delivering instances), ``lifecycle`` (the loop that starts, watches and stops them and starts or
refunds their orders), ``endpoints`` (HTTP).
"""
