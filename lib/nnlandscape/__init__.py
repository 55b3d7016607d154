"""nnlandscape: the solvers and simulators behind *Energy Landscapes of Neural Networks*.

Modules (one concept each):

- :mod:`nnlandscape.activations` -- the activation registry (with derivatives);
- :mod:`nnlandscape.kernels` -- the infinite-width covariance recursion :math:`C_L(q)`;
- :mod:`nnlandscape.random_nets` -- samples of finite random MLPs on the sphere;
- :mod:`nnlandscape.nets` -- the batched network engine (many small MLPs at once), with
  :mod:`~nnlandscape.optim` (batched optimisers), :mod:`~nnlandscape.symmetries` (rescalings,
  permutations, canonical forms) and :mod:`~nnlandscape.progress` (tqdm progress bars);
- :mod:`nnlandscape.replica`, :mod:`nnlandscape.parisi` -- replica theory of spherical mixed models;
- :mod:`nnlandscape.input_landscape`, :mod:`nnlandscape.sphere_mc` -- fixed random networks as
  functions of their input; Monte Carlo and descent on the sphere;
- :mod:`nnlandscape.sampling`, :mod:`nnlandscape.committee`, :mod:`nnlandscape.solution_paths`,
  :mod:`nnlandscape.perceptron` -- HMC/RWM over chains (Euclidean and on products of spheres), the
  ReLU tree committee machine, paths between solutions, perceptron reference theory;
- :mod:`nnlandscape.kac_rice`, :mod:`nnlandscape.sphere_fields` -- expected and sampled critical points;
- :mod:`nnlandscape.sawtooth`, :mod:`nnlandscape.neb`, :mod:`nnlandscape.surfaces`,
  :mod:`nnlandscape.landscape` -- the hand-built network, nudged elastic bands, test surfaces, and
  the landscape experiments around them;
- :mod:`nnlandscape.explore` -- one explorer spec, rendered live (ipywidgets) or static (plotly);
- :mod:`nnlandscape.scale` -- paper-scale runs: fixed chunks, in-process or on a Dask cluster, resumable;
- :mod:`nnlandscape.display` -- offline plotly rendering inside the book;
- :mod:`nnlandscape.book` -- building the book and telling whether a build is current.
"""
__version__ = "0.1.0"
