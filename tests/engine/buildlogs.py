"""Sample buildx logs (`--progress plain`) that the build-log and the build-repeat tests both read."""

# A RUN whose tool retried over a reset connection and then succeeded; a later COPY names a missing file.
COPY_MISSING = """\
$ docker buildx build --platform linux/amd64 --file stacks/demo/app/Dockerfile --push .
#0 building with "default" instance using docker-container driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 212B done
#1 DONE 0.0s

#6 [2/3] RUN go mod download
#6 4.210 go: github.com/pkg/errors@v0.9.1: read tcp 172.17.0.2:41822->142.250.74.81:443: read: \
connection reset by peer
#6 9.882 go: downloading github.com/pkg/errors v0.9.1
#6 DONE 10.4s

#7 [3/3] COPY config.yaml /etc/app/
#7 ERROR: failed to calculate checksum of ref 1b2c6b0e::x1m0: "/config.yaml": not found
------
 > [3/3] COPY config.yaml /etc/app/:
------
Dockerfile:3
--------------------
   1 |     FROM golang:1.22
   2 |     RUN go mod download
   3 | >>> COPY config.yaml /etc/app/
--------------------
ERROR: failed to solve: failed to compute cache key: failed to calculate checksum of ref 1b2c6b0e::x1m0: \
"/config.yaml": not found

exit code 1
"""

# Two platforms build apart: arm64's pip (under emulation) hangs while amd64 finishes its last COPY.
STALLED_ARM64_PIP = """\
#9 [linux/amd64 3/4] RUN pip install -r requirements.txt
#9 DONE 21.4s

#10 [linux/arm64 3/4] RUN pip install -r requirements.txt
#10 12.31 Collecting numpy==1.26.4
#10 ...

#11 [linux/amd64 4/4] COPY app.py /opt/app/app.py
#11 DONE 0.1s
"""
