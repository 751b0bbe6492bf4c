# Copied from the reference package quests (quests/tools/polyfit.py), whose licence
# follows: general helpers of its scripts and figures, not QUESTS computations, so
# that `quests.tools` imports keep working after `quests` -> `quests_jax.compat`.
#
# BSD 3-Clause License
#
# Copyright (c) 2024, Daniel Schwalbe-Koda, Lawrence Livermore National Security, LLC
# All rights reserved.
#
# Redistribution and use in source and binary forms, with or without
# modification, are permitted provided that the following conditions are met:
#
# * Redistributions of source code must retain the above copyright notice, this
#   list of conditions and the following disclaimer.
#
# * Redistributions in binary form must reproduce the above copyright notice,
#   this list of conditions and the following disclaimer in the documentation
#   and/or other materials provided with the distribution.
#
# * Neither the name of the copyright holder nor the names of its
#   contributors may be used to endorse or promote products derived from
#   this software without specific prior written permission.
#
# THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
# AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
# IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
# DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
# FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
# DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
# SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
# CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
# OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
# OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

import numpy as np


class PolynomialRegressor2D:
    """Create a regressor that fits a 2D polynomial using the provided
    data points.
    """

    def __init__(self, degree: int, x_train: np.ndarray, y_train: np.ndarray, **kwargs):
        """Initializes the 2D polynomial regressor using some training data.

        Arguments:
            degree (int): degree of the polynomial
            x_train (np.ndarray): (N, 2) data for the coordinates of
                input points
            y_train (np.ndarray): (N, ) data for the coordinates of
                the output prediction.
        """
        # scikit-learn, imported when used (quests_jax does not depend on it)
        from sklearn.linear_model import Lasso
        from sklearn.preprocessing import PolynomialFeatures

        self.degree = degree
        poly_features = PolynomialFeatures(degree)
        self.x_poly = poly_features.fit_transform(x_train)
        self.model = Lasso(**kwargs).fit(self.x_poly, y_train)
        self.y_train = y_train

    def __call__(self, x):
        from sklearn.preprocessing import PolynomialFeatures

        poly_features = PolynomialFeatures(self.degree)
        x_poly = poly_features.fit_transform(x)
        return self.model.predict(x_poly)

    def training_error(self):
        predictions = self.model.predict(self.x_poly)
        return np.mean((self.y_train - predictions) ** 2)


def find_zero_points(x, y, z, tol=1e-5):
    mask = np.abs(z) < tol
    return x[mask], y[mask]
