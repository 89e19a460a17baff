"""ambient-lb: a runbook for L7 load balancing and failover with kgateway in an Istio ambient mesh.

The notebooks in ``notebooks/`` call into this package; the package drives a cluster through
``kubectl`` and the ``kubernetes`` client, or through the built-in cluster-in-a-box in
``ambient_lb.sim``, which answers the same kubeconfig-based calls.
"""

__version__ = "0.1.0"
