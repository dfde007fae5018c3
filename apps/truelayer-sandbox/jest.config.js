module.exports = {
  displayName: 'truelayer-sandbox',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
