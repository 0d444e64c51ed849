// Storing a recording: a file chosen, or one recorded here (MediaRecorder, audio only where
// the recording is audio), sent as the body of PUT /practice/recordings/{id}/media with a
// progress bar. The server keeps nothing of a broken upload, so a dropped connection sends
// the whole file again, up to three more times, and says so.
const section = document.getElementById("upload");
if (section) {
  const id = section.dataset.recording;
  const csrf = section.dataset.csrf;
  const audioOnly = section.dataset.audioOnly === "true";
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const fileInput = document.getElementById("media-file");
  const start = document.getElementById("upload-start");
  const recStart = document.getElementById("record-start");
  const recStop = document.getElementById("record-stop");
  document.getElementById("upload-needs-js").hidden = true;
  document.getElementById("upload-controls").hidden = false;

  const send = (blob, attempt = 1) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/practice/recordings/${id}/media`);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", blob.type || "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 200) {
        progress.value = 100;
        status.textContent = `${xhr.responseText} Reloading…`;
        window.location.reload();
      } else {
        const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const said = page.querySelector("main p")?.textContent ?? `error ${xhr.status}`;
        status.textContent = `The recording was not stored: ${said}`;
      }
    });
    xhr.addEventListener("error", () => {
      if (attempt <= 3) {
        status.textContent = `The connection dropped; sending the whole file again (attempt ${attempt + 1} of 4).`;
        setTimeout(() => send(blob, attempt + 1), 2000 * attempt);
      } else {
        status.textContent = "The connection dropped four times; nothing was stored. Try again later.";
      }
    });
    status.textContent = "Uploading…";
    xhr.send(blob);
  };

  start.addEventListener("click", () => {
    const file = fileInput.files[0];
    if (file) send(file);
    else status.textContent = "Choose a file first.";
  });

  let recorder = null;
  if (!window.MediaRecorder || !navigator.mediaDevices) {
    recStart.hidden = true;
    recStop.hidden = true;
  }
  recStart.addEventListener("click", async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: !audioOnly });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.addEventListener("stop", () => {
      for (const track of stream.getTracks()) track.stop();
      send(new Blob(chunks, { type: recorder.mimeType }));
    });
    recorder.start(1000);
    recStart.disabled = true;
    recStop.disabled = false;
    status.textContent = "Recording. Press Stop when the session ends or the client asks to stop.";
    recStop.focus();
  });
  recStop.addEventListener("click", () => {
    recStop.disabled = true;
    if (recorder) recorder.stop();
  });
}
