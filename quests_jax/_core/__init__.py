"""The shared core every room builds on (private: import from the rooms' faces).

* :mod:`.precision`    matmul precision (no TF32 surprise) and the dtype policy;
* :mod:`.settings`     the descriptor's settings, one static value;
* :mod:`.validation`   input checks, run on the host before any compute;
* :mod:`.padding`      padding rows to static capacities, and the masked-row policy;
* :mod:`.retry`        the one "enlarge and retry" loop for capacities a frame outgrows;
* :mod:`.array_types`  array types with their shapes, for signatures;
* :mod:`.lazy`         faces that load heavy members on first use;
* :mod:`.progress`, :mod:`.output_files`, :mod:`.compilation`: progress bars, files
  that are never lost, the persistent compilation cache.
"""
