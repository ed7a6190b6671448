-- examples/love/conf.lua: a small window, and none of the modules the
-- example does not use (audio in a headless X server only complains).
function love.conf(t)
  t.identity = "concurrent-terrain"
  t.version = "11.4"
  t.window.title = "concurrent: terrain chunks from a thread pool"
  t.window.width = 640
  t.window.height = 480
  t.window.vsync = 0
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.video = false
end
