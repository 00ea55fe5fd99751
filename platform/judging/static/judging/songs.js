// Renders each generated song as sheet music (abcjs) and plays it with a small Web Audio
// synth built from abcjs's note sequence, so no sound font is fetched from another site.
(function () {
  "use strict";
  const data = document.getElementById("songs-data");
  if (!data || !window.ABCJS) return;
  const songs = JSON.parse(data.textContent);
  let audio = null;
  let playing = [];

  function stop() {
    playing.forEach((node) => { try { node.stop(); } catch (e) { /* already stopped */ } });
    playing = [];
    document.querySelectorAll(".song-play").forEach((b) => { b.textContent = "▶ Play"; });
  }

  function play(tune, button) {
    const wasPlaying = button.textContent.startsWith("■");
    stop();
    if (wasPlaying) return;
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const setup = tune.setUpAudio({});
    // start and duration are in whole notes; tempo is quarter notes per minute.
    const secondsPerWhole = 240 / (setup.tempo || 120);
    const t0 = audio.currentTime + 0.1;
    let end = t0;
    setup.tracks.forEach((track) => track.forEach((note) => {
      if (note.cmd !== "note" || note.pitch === undefined) return;
      const start = t0 + note.start * secondsPerWhole;
      const stopAt = start + Math.max(note.duration * secondsPerWhole - 0.02, 0.05);
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "triangle";
      osc.frequency.value = 440 * Math.pow(2, (note.pitch - 69) / 12);
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.2 * (note.volume || 80) / 127 + 0.01, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, stopAt);
      osc.connect(gain).connect(audio.destination);
      osc.start(start);
      osc.stop(stopAt + 0.02);
      playing.push(osc);
      end = Math.max(end, stopAt);
    }));
    button.textContent = "■ Stop";
    const mine = playing;
    setTimeout(() => { if (playing === mine) stop(); }, (end - audio.currentTime) * 1000 + 200);
  }

  songs.forEach((abc, i) => {
    const paper = document.getElementById("song-" + i);
    const status = document.getElementById("song-status-" + i);
    let tunes;
    try {
      // Wrap lines to the paper's width, so a phone shows two bars a line rather than a
      // whole line shrunk to an unreadable size.
      const width = Math.max(paper.clientWidth - 16, 240);
      tunes = window.ABCJS.renderAbc(paper, abc, {
        add_classes: true,
        staffwidth: width,
        wrap: { minSpacing: 1.8, maxSpacing: 2.7, preferredMeasuresPerLine: 4 },
      });
    } catch (error) {
      tunes = [];
    }
    const tune = tunes && tunes[0];
    const ok = tune && tune.lines && tune.lines.length > 0;
    const button = document.getElementById("song-play-" + i);
    if (!ok) {
      status.textContent = "abcjs could not read this song.";
      button.disabled = true;
      return;
    }
    const warnings = tune.warnings || [];
    status.textContent = warnings.length ? warnings.length + " notation warning(s)" : "";
    button.addEventListener("click", () => play(tune, button));
  });
})();
