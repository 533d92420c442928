# summarytool GPU workstation: JupyterLab + SSH on one image, torch 2.8.0 (CUDA 12.8, cuDNN 9.10.2).
#
# torch's PyPI wheels bring the CUDA 12.8 user-space libraries and cuDNN, so the small CUDA *base* image
# is enough (a -cudnn-runtime base would install them a second time, gigabytes). The driver comes from
# the host through the NVIDIA container toolkit (`docker run --gpus all`).
#
#   make build                       # docker build -t summarytool-workstation .
#   make pin-base                    # resolve BASE_IMAGE's tag to a digest (needs registry access)
#   docker build --build-arg BASE_IMAGE=... .   # another base, e.g. a digest-pinned one or a stand-in
ARG BASE_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive

# Extra CA certificates (TLS-intercepting proxies): *.crt files in certs/ are trusted from here on,
# by apt, curl and, through SSL_CERT_FILE / PIP_CERT / REQUESTS_CA_BUNDLE, by pip and Python.
COPY certs/ /tmp/extra-ca/
RUN mkdir -p /usr/local/share/ca-certificates/extra \
    && find /tmp/extra-ca -maxdepth 1 -name '*.crt' -exec cp -t /usr/local/share/ca-certificates/extra/ {} + \
    && rm -rf /tmp/extra-ca \
    && if command -v update-ca-certificates >/dev/null; then update-ca-certificates; fi
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# OS packages: Python for the venv, sshd, tini as PID 1, and what a developer expects at a shell.
# Versions come from the pinned base's distribution release; the Python side is locked with hashes.
# The host keys that openssh-server's postinst generates are deleted: every container would share them.
# Ubuntu images ship a user `ubuntu` with UID 1000, which `dev` takes over.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-venv \
        openssh-server tini \
        git curl less nano vim-tiny htop tmux procps \
    && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub \
    && update-ca-certificates \
    && if id ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
    && if getent group ubuntu >/dev/null; then groupdel ubuntu; fi \
    && groupadd --gid 1000 dev \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash dev \
    && usermod --password '*' dev \
    && mkdir -p /workspace /var/lib/sshd-keys /run/sshd /opt/summarytool \
    && install -d -m 1777 /run/workstation \
    && chown dev:dev /workspace \
    && chmod 0700 /var/lib/sshd-keys

# The virtual environment, from the hashed lock (torch and its CUDA wheels: the big, rarely changing layer).
# The lock stays in the image for `summarytool env --against /opt/summarytool/image.lock`.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1
# --system-site-packages switches the user site on inside the venv (a plain venv has it off), so that `pip install X`
# as dev, who cannot write /opt/venv, becomes a user install into ~/.local on the home volume (pip's own default
# when site-packages is read-only); root still installs into the venv. Nothing else is exposed: the base's
# dist-packages hold no Python distributions (tests/image/test_user_packages.py checks). A venv puts its own
# site-packages before the user site; 00-user-site-first.pth puts ~/.local first, as outside a venv, so that a package
# dev installs deliberately (pip install --ignore-installed torch==...) is the one imported, and `summarytool
# selfcheck` names it. The .pth in the base Python's site directory lets a project venv made with `python -m venv
# --system-site-packages` (whose system site is the base Python's, not /opt/venv's) see the locked packages too.
COPY requirements/image.lock /opt/summarytool/image.lock
RUN python3 -m venv --system-site-packages /opt/venv \
    && pip install --require-hashes -r /opt/summarytool/image.lock \
    && pip check \
    && printf '%s\n' 'import os, site, sys; u = site.getusersitepackages() if site.check_enableusersite() else ""; v = [p for p in sys.path if p.startswith(sys.prefix + os.sep) and p.endswith("-packages")]; os.path.isdir(u) and u not in sys.path and v and sys.path.insert(sys.path.index(v[0]), u)' \
        >"$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/00-user-site-first.pth" \
    && base_site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])') \
    && mkdir -p "$base_site" \
    && /opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))' \
        >"$base_site/summarytool-image-venv.pth"
# pip in a venv counts only the venv as its own and will not uninstall or upgrade what is in ~/.local ("outside
# environment /opt/venv"); this adds dev's user base to its two "may I modify this path?" checks, so `pip uninstall X`
# and `pip install -U X` work on user packages (why this and not a second venv on the home volume: in the script).
COPY image/pip_user_site.py /opt/summarytool/pip_user_site.py
RUN python /opt/summarytool/pip_user_site.py

# Container plumbing: entrypoint, health check, sshd and Jupyter configuration.
COPY image/sshd_config /etc/ssh/sshd_config
COPY image/jupyter_server_config.py /etc/jupyter/jupyter_server_config.py
# No news or update checks from the workstation (users can turn them on in Settings).
COPY image/jupyterlab-overrides.json /opt/venv/share/jupyter/lab/settings/overrides.json
COPY image/ssh_env.py /opt/summarytool/ssh_env.py
COPY image/exposure_check.py /opt/summarytool/exposure_check.py
COPY image/entrypoint.sh /usr/local/bin/entrypoint.sh
COPY image/start.d/ /usr/local/share/summarytool/start.d/
COPY image/healthcheck.sh /usr/local/bin/healthcheck.sh

# summarytool itself, last: a code change rebuilds only this layer, never torch. Its dependencies are
# already in the venv from the lock (--no-deps), and setuptools comes from the lock too.
COPY pyproject.toml README.m[d] /tmp/summarytool-src/
COPY summarytool/ /tmp/summarytool-src/summarytool/
RUN if [ ! -f /tmp/summarytool-src/README.md ]; then echo '# summarytool' > /tmp/summarytool-src/README.md; fi \
    && pip install --no-deps --no-build-isolation /tmp/summarytool-src \
    && pip check \
    && rm -rf /tmp/summarytool-src \
    && summarytool --help >/dev/null
COPY notebooks/ /opt/summarytool/notebooks/
COPY examples/ /opt/summarytool/examples/

# The GPU: every device, compute and NVML. NVIDIA_REQUIRE_CUDA replaces the base's "cuda>=12.8" gate:
# torch's CUDA 12.8 wheels run on any CUDA 12 driver (>= 525, minor-version compatibility), and
# `summarytool selfcheck` at start says FAIL or WARN with the reason instead of a refused start.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=12.0" \
    SELFCHECK=warn \
    START_JUPYTER=1 \
    START_SSHD=1

WORKDIR /workspace
EXPOSE 8888 22
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 CMD ["/usr/local/bin/healthcheck.sh"]
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/usr/local/bin/entrypoint.sh"]

# Metadata last, so that a new revision or date changes no layer above.
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
ARG TORCH_VERSION=2.8.0
ARG CUDA_VERSION_LABEL=12.8
ARG CUDNN_VERSION=9.10.2
LABEL org.opencontainers.image.title="summarytool workstation" \
      org.opencontainers.image.description="JupyterLab + SSH GPU workstation with PyTorch and summarytool" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.summarytool.torch.version="${TORCH_VERSION}" \
      io.summarytool.cuda.version="${CUDA_VERSION_LABEL}" \
      io.summarytool.cudnn.version="${CUDNN_VERSION}"
