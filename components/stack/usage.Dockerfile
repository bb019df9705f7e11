# The usage service's image, both stacks' (components/docker/usage_image.py passes every argument): Python 3 and
# the stack's pinned weed binary, which the service runs as `weed filer.meta.tail`. The SeaweedFS image has weed but
# no Python; python:alpine has Python but no weed, so weed is copied across. The build context holds only the
# package root's __init__.py and components/usage.
ARG SEAWEEDFS_IMAGE
ARG PYTHON_IMAGE
FROM ${SEAWEEDFS_IMAGE} AS seaweedfs

FROM ${PYTHON_IMAGE}
ARG CODE_DIR
ARG WEED
COPY --from=seaweedfs ${WEED} ${WEED}
COPY __init__.py ${CODE_DIR}/components/__init__.py
COPY usage ${CODE_DIR}/components/usage
# Not root; a new data volume takes /data's owner, so the checkpoint is writable without a chown step.
RUN adduser -D -H usage && mkdir /data && chown usage /data
USER usage
