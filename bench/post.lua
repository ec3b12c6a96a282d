-- wrk: POST the body in BENCH_BODY (a chat completion with tools) with the key in BENCH_KEY.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench-not-a-real-key")
wrk.body = os.getenv("BENCH_BODY")

