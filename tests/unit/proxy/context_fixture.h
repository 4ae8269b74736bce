// A worker's ProxyContext on a test loop, for the proxy layer's unit tests; closed the way
// Worker::stop() closes it, so each test ends with the loop clean.
#pragma once

#include <uv.h>

#include <memory>

#include "loop_fixture.h"
#include "turnout/proxy/proxy_context.h"

namespace turnout::test {

struct ContextFixture {
  LoopFixture f;
  ProxyStats stats;
  std::unique_ptr<ProxyContext> ctx = std::make_unique<ProxyContext>(&f.loop, 0, stats);
  ~ContextFixture() {
    ctx->pool.close_all();
    ctx->deadlines.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&ctx->reaper), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&ctx->flush_idle), nullptr);
    f.run();
    ctx.reset();
  }
};

}  // namespace turnout::test
