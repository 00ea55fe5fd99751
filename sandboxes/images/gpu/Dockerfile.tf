# TensorFlow GPU sandbox image: WHERE A REGISTRY IS REACHABLE (not built on the CI machine,
# which has neither a registry nor a GPU). Same layout and user as the CPU images made by
# scripts/build_sandbox_images.sh, so the Docker backend runs it with the same profile plus one
# GPU device request.
#   docker build -f sandboxes/images/gpu/Dockerfile.tf -t labgrader-sandbox:gpu .
#   (worker: GRADER_DOCKER_GPU_IMAGE=labgrader-sandbox:gpu GRADER_GPUS=<uuid>)
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04@sha256:REPLACE_WITH_THE_PINNED_DIGEST

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
# tensorflow[and-cuda] brings the CUDA/cuDNN wheels TensorFlow 2.21 was built against.
RUN python3 -m pip install --no-cache-dir --break-system-packages numpy==2.4.6 "tensorflow[and-cuda]==2.21.0" \
 && rm -rf /usr/local/lib/python3*/dist-packages/tensorflow/include
COPY sandboxes/harness /opt/grader/harness
RUN python3 -m compileall -q /opt/grader/harness && mkdir -p /sandbox

ENV PATH=/usr/local/bin:/usr/bin:/bin PYTHONPATH=/opt/grader LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp TF_FORCE_GPU_ALLOW_GROWTH=true
USER 65534:65534
WORKDIR /tmp
CMD ["python3", "-m", "harness", "--help"]
