# The runbook's image: what `ambient-lb workshop --jobs` runs, one Job per attendee, in the trainer's cluster.
#
#   docker build -t ghcr.io/ambient-lb/ambient-lb:0.1.0 .      (the tag is the version in pyproject.toml)
#
# It holds the project (notebooks, params and the library, installed editable so the runner finds the
# notebooks next to it), kubectl and helm (pinned, checksums verified), and runs as the non-root user 10001
# (job_manifests.RUN_USER) with a read-only root filesystem: everything it writes goes to /work and /tmp,
# which the Job mounts as emptyDir volumes. The license key is never baked in: the Job reads it from a Secret.
FROM python:3.11-slim-bookworm AS build
ARG KUBECTL_VERSION=v1.31.4
ARG HELM_VERSION=v3.16.4
ARG TARGETARCH=amd64
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
 && echo "$(curl -fsSL "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256")  /usr/local/bin/kubectl" \
    | sha256sum -c - \
 && chmod 0755 /usr/local/bin/kubectl
RUN curl -fsSLo /tmp/helm.tgz "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && echo "$(curl -fsSL "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" | cut -d' ' -f1)  /tmp/helm.tgz" \
    | sha256sum -c - \
 && tar -xzf /tmp/helm.tgz -C /tmp "linux-${TARGETARCH}/helm" \
 && install -m 0755 "/tmp/linux-${TARGETARCH}/helm" /usr/local/bin/helm
COPY pyproject.toml README.md /app/
COPY lib /app/lib
COPY notebooks /app/notebooks
COPY params /app/params
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -e /app \
 && /opt/venv/bin/python -m compileall -q /app/lib

FROM python:3.11-slim-bookworm
COPY --from=build /usr/local/bin/kubectl /usr/local/bin/helm /usr/local/bin/
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
RUN groupadd --gid 10001 ambient && useradd --uid 10001 --gid 10001 --home-dir /work/home --no-create-home ambient
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/work/home
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["ambient-lb"]
CMD ["--help"]
