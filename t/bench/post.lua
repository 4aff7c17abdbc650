-- wrk: POST a 1 MiB body (t/bench row 8)
wrk.method = "POST"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
