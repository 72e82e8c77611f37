// Save as test-generation.js
const BASE_URL = "http://localhost:3264/api";

async function testImageGeneration() {
  console.log("Testing image generation...");
  const response = await fetch(`${BASE_URL}/chat`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      message: "A majestic mountain landscape at sunset",
      model: "qwen-vl-max-latest",
      chatType: "t2i",
      size: "1024*1024",
    }),
  });

  const data = await response.json();
  console.log("Image URL:", data.choices[0].message.content);
}

async function testVideoGeneration() {
  console.log("Testing video generation (this takes 1-2 minutes)...");
  const response = await fetch(`${BASE_URL}/chat`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      message: "Gentle ocean waves on a beach",
      model: "qwen-vl-max-latest",
      chatType: "t2v",
      size: "720*480",
    }),
  });

  const data = await response.json();
  console.log("Video URL:", data.video_url || data.choices[0].message.content);
}

// Run tests
testImageGeneration().then(() => testVideoGeneration());
