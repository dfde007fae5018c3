module.exports = {
  displayName: 'truelayer-client',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
