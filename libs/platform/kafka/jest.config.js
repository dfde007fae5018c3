module.exports = {
  displayName: 'platform-kafka',
  preset: '../../../jest.preset.js',
  rootDir: __dirname,
};
