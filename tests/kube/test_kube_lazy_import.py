"""kubernetes-asyncio is imported without its model classes (continuum.adapters.kube_lazy).

Each case runs in a fresh interpreter: what a process imports is only observable from its
start. The controller's calls themselves are covered against the emulator by the rest of
tests/kube and tests/e2e, which run with the lazy packages installed (``import continuum``
installs them).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from continuum.adapters.kube_lazy import _Index


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout (fails on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_controller_import_loads_no_model_class_and_no_api_package_init() -> None:
    out = run_python(
        """
        import sys
        import continuum.adapters.kube
        import continuum.controller
        import continuum.cli
        import continuum.witness.k8s_lease
        import continuum.leader.elector
        from continuum.adapters import kube_lazy
        loaded = sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio"))
        models = [m for m in loaded if m.startswith("kubernetes_asyncio.client.models.")]
        apis = [m for m in loaded if m.startswith("kubernetes_asyncio.client.api.")]
        print(len(models), len(apis), [kube_lazy.is_loaded(p) for p in kube_lazy.LAZY_PACKAGES])
        print("kubernetes_asyncio.config" in loaded, "kubernetes_asyncio.client.rest" in loaded)
        """
    )
    assert out.splitlines() == ["0 0 [False, False, False, False]", "True True"]


def test_the_client_classes_the_controller_uses_resolve_one_module_each() -> None:
    out = run_python(
        """
        import sys
        import continuum
        from kubernetes_asyncio import client as k8s
        from kubernetes_asyncio import config as k8s_config
        from kubernetes_asyncio.client.exceptions import ApiException
        from kubernetes_asyncio.client.api.core_v1_api import CoreV1Api
        import asyncio
        async def build():
            api = k8s.ApiClient(configuration=k8s.Configuration())
            k8s.CoreV1Api(api), k8s.CustomObjectsApi(api), k8s.CoordinationV1Api(api)
            await api.close()
        asyncio.run(build())
        apis = sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio.client.api."))
        print(k8s.CoreV1Api is CoreV1Api, k8s.ApiException is ApiException)
        print(callable(k8s_config.new_client_from_config), k8s.__version__ == continuum_ver)
        print(apis)
        """.replace(
            "continuum_ver",
            repr(_installed_version()),
        )
    )
    assert out.splitlines() == [
        "True True",
        "True True",
        "['kubernetes_asyncio.client.api.coordination_v1_api', "
        "'kubernetes_asyncio.client.api.core_v1_api', "
        "'kubernetes_asyncio.client.api.custom_objects_api']",
    ]


def test_a_model_class_asked_for_loads_that_class_only_and_is_the_real_one() -> None:
    out = run_python(
        """
        import sys
        import continuum
        import kubernetes_asyncio.client.models as models
        from kubernetes_asyncio import client as k8s
        from kubernetes_asyncio.client.models.v1_lease import V1Lease
        lease = k8s.V1Lease(metadata=models.V1ObjectMeta(name="x"))
        loaded = sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio.client.models."))
        print(type(lease) is V1Lease, models.V1Lease is V1Lease, "V1Pod" in dir(models))
        print(loaded)
        # What a caller that preloads content gets: the library decodes into its models.
        import asyncio
        class Response:
            data = '{"metadata": {"name": "n"}, "spec": {"holderIdentity": "a"}}'
        async def decode():
            api = k8s.ApiClient()
            decoded = api.deserialize(Response(), "V1Lease")
            await api.close()
            return decoded
        decoded = asyncio.run(decode())
        print(type(decoded).__name__, decoded.spec.holder_identity, decoded.metadata.name)
        """
    )
    lines = out.splitlines()
    assert lines[0] == "True True True"
    assert lines[1] == str(
        [
            "kubernetes_asyncio.client.models.v1_lease",
            "kubernetes_asyncio.client.models.v1_object_meta",
        ]
    )
    assert lines[2] == "V1Lease a n"


def test_an_unindexed_name_runs_the_real_package_init_once() -> None:
    out = run_python(
        """
        import sys
        import continuum
        from continuum.adapters import kube_lazy
        import kubernetes_asyncio.client.models as models
        try:
            models.NoSuchModel
        except AttributeError:
            print("AttributeError")
        print(kube_lazy.is_loaded("kubernetes_asyncio.client.models"))
        print(sum(m.startswith("kubernetes_asyncio.client.models.") for m in sys.modules) > 500)
        """
    )
    assert out.splitlines() == ["AttributeError", "True", "True"]


def test_an_already_imported_library_is_left_alone() -> None:
    out = run_python(
        """
        import kubernetes_asyncio
        import continuum
        from continuum.adapters import kube_lazy
        print(kube_lazy.install(), kube_lazy.is_loaded("kubernetes_asyncio.client.models"))
        """
    )
    assert out.split() == ["False", "True"]


def test_an_init_with_statements_other_than_imports_and_literals_is_not_indexed() -> None:
    plain = _Index(
        '"""doc"""\nfrom __future__ import annotations\nfrom a.b import C as D\nX = [1]\n'
    )
    assert plain.complete
    assert plain.imports == {"D": ("a.b", "C")}
    assert plain.constants == {"X": [1]}
    for source in ("from a import *\n", "def f(): pass\n", "X = f()\n", "import a\n"):
        assert not _Index(source).complete, source


def _installed_version() -> str:
    from importlib.metadata import version

    return version("kubernetes_asyncio")
