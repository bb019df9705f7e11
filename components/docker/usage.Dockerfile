# The dev stack's usage service (components/usage): Python 3 and the stack's pinned weed binary, which the
# service runs as `weed filer.meta.tail`. The SeaweedFS image has weed but no Python; python:alpine has
# Python but no weed, so weed is copied across. Built with components/ as the context.
ARG SEAWEEDFS_IMAGE
ARG PYTHON_IMAGE
FROM ${SEAWEEDFS_IMAGE} AS seaweedfs

FROM ${PYTHON_IMAGE}
COPY --from=seaweedfs /usr/bin/weed /usr/bin/weed
COPY __init__.py /opt/aegis/components/__init__.py
COPY usage /opt/aegis/components/usage
# Not root; a new data volume takes /data's owner, so the checkpoint is writable without a chown step.
RUN adduser -D -H usage && mkdir /data && chown usage /data
USER usage
