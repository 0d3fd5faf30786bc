"""The API process builds no GPU provider: it starts with GPU_PROVIDER=comput3 and no C3_API_KEY."""

import subprocess
import sys


def test_wsgi_app_imports_with_comput3_and_no_provider_key(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GPU_PROVIDER": "comput3",
           "REDIS_URL": "redis://127.0.0.1:1/0", "C3_RENDER_API_KEY": "api-key"}
    result = subprocess.run([sys.executable, "-c", "import render_api.wsgi"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "C3 Render API ready" in result.stderr
