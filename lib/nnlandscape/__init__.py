"""nnlandscape: the solvers and simulators behind *Energy Landscapes of Neural Networks*.

Modules (one concept each):

- :mod:`nnlandscape.activations` -- the activation registry (with derivatives);
- :mod:`nnlandscape.kernels` -- the infinite-width covariance recursion :math:`C_L(q)`;
- :mod:`nnlandscape.random_nets` -- samples of finite random MLPs on the sphere;
- :mod:`nnlandscape.nets` -- the batched network engine (many small MLPs at once);
- :mod:`nnlandscape.explore` -- one explorer spec, rendered live (ipywidgets) or static (plotly);
- :mod:`nnlandscape.display` -- offline plotly rendering inside the book.
"""
__version__ = "0.1.0"
