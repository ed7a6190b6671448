# examples/trace/trace.mk -- included by the Makefile.
#
# make trace-demo: the seed's as_completed and map programs (DEMO_SPEED=10,
# as in the tour) run with concurrent.trace recording, then the timeline
# drawn with gnuplot (one row per worker, one bar per task, queue wait
# shaded): $(BUILD)/trace-demo.json (open it in Perfetto or
# chrome://tracing) and $(BUILD)/trace-demo.png.
TRACE_DEMO_SCRIPTS := examples/06_as_completed.lua examples/07_map.lua

.PHONY: trace-demo
trace-demo: all
	@sh .ci/deps-optional.sh
	DEMO_SPEED=10 CONCURRENT_BUILD=$(BUILD) $(LUA) examples/trace/run.lua \
	  $(BUILD)/trace-demo.json $(TRACE_DEMO_SCRIPTS)
	$(LUA) examples/trace/timeline.lua $(BUILD)/trace-demo.json \
	  $(BUILD)/trace-demo.png "make trace-demo: 06_as_completed.lua, then 07_map.lua (DEMO_SPEED=10)"
